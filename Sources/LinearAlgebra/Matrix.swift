import CLAPACK

/// A dense column-major matrix, the layout of BLAS/LAPACK. Column j is one vector: one
/// right-hand side, one basis vector, one parameter's row of the mixed Hessian.
public struct Matrix: Sendable {
    public var rows: Int
    public var columns: Int
    public var storage: [Double]

    public init(rows: Int, columns: Int, storage: [Double]? = nil) {
        self.rows = rows
        self.columns = columns
        self.storage = storage ?? [Double](repeating: 0, count: rows * columns)
        precondition(self.storage.count == rows * columns)
    }

    /// A matrix whose columns are `vectors` (all of equal length).
    public init(columns vectors: [[Double]], rows: Int) {
        self.init(rows: rows, columns: vectors.count, storage: vectors.flatMap { $0 })
    }

    /// A matrix whose rows are `vectors` (all of equal length), as text files and tables list them.
    public init(rows vectors: [[Double]]) {
        let columns = vectors.first?.count ?? 0
        precondition(vectors.allSatisfy { $0.count == columns }, "rows of unequal length")
        self.init(rows: vectors.count, columns: columns)
        for (i, row) in vectors.enumerated() { for (j, value) in row.enumerated() { self[i, j] = value } }
    }

    public subscript(row: Int, column: Int) -> Double {
        get { storage[column * rows + row] }
        set { storage[column * rows + row] = newValue }
    }

    public func column(_ j: Int) -> [Double] { Array(storage[j * rows..<(j + 1) * rows]) }

    public mutating func setColumn(_ j: Int, _ values: [Double]) {
        storage.replaceSubrange(j * rows..<(j + 1) * rows, with: values)
    }

    /// Columns side by side.
    public func appending(columnsOf other: Matrix) -> Matrix {
        precondition(other.rows == rows || columns == 0)
        return Matrix(rows: other.rows, columns: columns + other.columns, storage: storage + other.storage)
    }

    public var transposed: Matrix {
        var result = Matrix(rows: columns, columns: rows)
        for c in 0..<columns { for r in 0..<rows { result[c, r] = self[r, c] } }
        return result
    }

    /// op(self) · op(other) with BLAS dgemm.
    public func multiplied(by other: Matrix, transposingSelf: Bool = false, transposingOther: Bool = false) -> Matrix {
        let m = transposingSelf ? columns : rows
        let k = transposingSelf ? rows : columns
        let n = transposingOther ? other.rows : other.columns
        precondition(k == (transposingOther ? other.columns : other.rows), "inner dimensions differ")
        var result = Matrix(rows: m, columns: n)
        guard m > 0, n > 0, k > 0 else { return result }
        var (mm, nn, kk) = (Int32(m), Int32(n), Int32(k))
        var (lda, ldb, ldc) = (Int32(max(rows, 1)), Int32(max(other.rows, 1)), Int32(m))
        var (alpha, beta) = (1.0, 0.0)
        var (ta, tb): (CChar, CChar) = (transposingSelf ? 84 : 78, transposingOther ? 84 : 78)  // "T" / "N"
        dgemm_(&ta, &tb, &mm, &nn, &kk, &alpha, storage, &lda, other.storage, &ldb, &beta, &result.storage, &ldc)
        return result
    }

    public static func - (lhs: Matrix, rhs: Matrix) -> Matrix {
        precondition(lhs.rows == rhs.rows && lhs.columns == rhs.columns, "shapes differ")
        return Matrix(rows: lhs.rows, columns: lhs.columns, storage: zip(lhs.storage, rhs.storage).map { $0 - $1 })
    }

    public static func + (lhs: Matrix, rhs: Matrix) -> Matrix {
        precondition(lhs.rows == rhs.rows && lhs.columns == rhs.columns, "shapes differ")
        return Matrix(rows: lhs.rows, columns: lhs.columns, storage: zip(lhs.storage, rhs.storage).map { $0 + $1 })
    }

    /// The given columns, in that order.
    public func selecting(columns indices: [Int]) -> Matrix {
        Matrix(columns: indices.map { column($0) }, rows: rows)
    }

    /// Replaces each off-diagonal pair by its mean: finite-difference second derivatives are
    /// symmetric only up to their error, and the LAPACK solvers read one triangle.
    public mutating func symmetrize() {
        for i in 0..<rows {
            for j in 0..<i {
                let mean = (self[i, j] + self[j, i]) / 2
                self[i, j] = mean
                self[j, i] = mean
            }
        }
    }

    public var frobeniusNorm: Double { storage.reduce(0) { $0 + $1 * $1 }.squareRoot() }
}

public struct LAPACKError: Error, CustomStringConvertible {
    public var routine: String
    public var info: Int32
    public var description: String { "LAPACK \(routine) failed with info = \(info)" }
}

/// Dense linear algebra from LAPACK; nothing here is hand-rolled.
public enum LAPACK {
    /// Solves A X = B for symmetric (possibly indefinite) A with LAPACK dsysv.
    public static func solveSymmetric(_ a: Matrix, _ b: Matrix) throws -> Matrix {
        precondition(a.rows == a.columns && b.rows == a.rows)
        var factor = a.storage, solution = b.storage
        var n = Int32(a.rows), nrhs = Int32(b.columns), lda = Int32(max(a.rows, 1)), info: Int32 = 0
        var pivots = [Int32](repeating: 0, count: a.rows)
        var uplo: CChar = 85  // "U"
        var query = 0.0, lwork: Int32 = -1
        dsysv_(&uplo, &n, &nrhs, &factor, &lda, &pivots, &solution, &lda, &query, &lwork, &info)
        lwork = Int32(query)
        var work = [Double](repeating: 0, count: max(Int(lwork), 1))
        dsysv_(&uplo, &n, &nrhs, &factor, &lda, &pivots, &solution, &lda, &work, &lwork, &info)
        guard info == 0 else { throw LAPACKError(routine: "dsysv", info: info) }
        return Matrix(rows: b.rows, columns: b.columns, storage: solution)
    }

    /// Eigenvalues (ascending) and eigenvectors (columns) of a symmetric matrix, LAPACK dsyev.
    public static func symmetricEigen(_ a: Matrix) throws -> (values: [Double], vectors: Matrix) {
        var vectors = a.storage
        var n = Int32(a.rows), lda = Int32(max(a.rows, 1)), info: Int32 = 0
        var values = [Double](repeating: 0, count: a.rows)
        var jobz: CChar = 86, uplo: CChar = 85  // "V", "U"
        var query = 0.0, lwork: Int32 = -1
        dsyev_(&jobz, &uplo, &n, &vectors, &lda, &values, &query, &lwork, &info)
        lwork = Int32(query)
        var work = [Double](repeating: 0, count: max(Int(lwork), 1))
        dsyev_(&jobz, &uplo, &n, &vectors, &lda, &values, &work, &lwork, &info)
        guard info == 0 else { throw LAPACKError(routine: "dsyev", info: info) }
        return (values, Matrix(rows: a.rows, columns: a.rows, storage: vectors))
    }

    /// Thin SVD A = U S Vᵀ; returns U (rows × min(rows, columns)) and S, LAPACK dgesdd.
    public static func leftSingularVectors(_ a: Matrix) throws -> (u: Matrix, singularValues: [Double]) {
        let k = min(a.rows, a.columns)
        var copy = a.storage
        var m = Int32(a.rows), n = Int32(a.columns), lda = Int32(max(a.rows, 1)), info: Int32 = 0
        var s = [Double](repeating: 0, count: k)
        var u = [Double](repeating: 0, count: a.rows * k), ldu = Int32(max(a.rows, 1))
        var vt = [Double](repeating: 0, count: k * a.columns), ldvt = Int32(max(k, 1))
        var iwork = [Int32](repeating: 0, count: 8 * k)
        var jobz: CChar = 83  // "S"
        var query = 0.0, lwork: Int32 = -1
        dgesdd_(&jobz, &m, &n, &copy, &lda, &s, &u, &ldu, &vt, &ldvt, &query, &lwork, &iwork, &info)
        lwork = Int32(query)
        var work = [Double](repeating: 0, count: max(Int(lwork), 1))
        dgesdd_(&jobz, &m, &n, &copy, &lda, &s, &u, &ldu, &vt, &ldvt, &work, &lwork, &iwork, &info)
        guard info == 0 else { throw LAPACKError(routine: "dgesdd", info: info) }
        return (Matrix(rows: a.rows, columns: k, storage: u), s)
    }

    /// The least-squares solution X of min ‖A X − B‖ (the minimum-norm one where A is rank
    /// deficient), by an SVD (LAPACK dgelsd), which works on A itself rather than on AᵀA and so
    /// keeps the accuracy that normal equations lose to the square of A's condition number.
    /// - Parameter rcond: singular values below rcond·σ_max count as zero; negative: machine precision.
    public static func leastSquares(_ a: Matrix, _ b: Matrix, rcond: Double = -1) throws
        -> (solution: Matrix, rank: Int, singularValues: [Double])
    {
        precondition(b.rows == a.rows, "A and B need the same number of rows")
        let leading = max(a.rows, a.columns, 1)
        var copy = a.storage
        // B's columns padded to max(rows, columns): dgelsd writes the n-long solutions in their place.
        var rhs = [Double](repeating: 0, count: leading * b.columns)
        for j in 0..<b.columns { rhs.replaceSubrange(j * leading..<j * leading + b.rows, with: b.column(j)) }
        var m = Int32(a.rows), n = Int32(a.columns), nrhs = Int32(b.columns)
        var lda = Int32(max(a.rows, 1)), ldb = Int32(leading), rcond = rcond, rank: Int32 = 0, info: Int32 = 0
        var s = [Double](repeating: 0, count: min(a.rows, a.columns))
        var query = 0.0, lwork: Int32 = -1, iworkSize: Int32 = 0
        dgelsd_(&m, &n, &nrhs, &copy, &lda, &rhs, &ldb, &s, &rcond, &rank, &query, &lwork, &iworkSize, &info)
        lwork = Int32(query)
        var work = [Double](repeating: 0, count: max(Int(lwork), 1))
        var iwork = [Int32](repeating: 0, count: max(Int(iworkSize), 1))
        dgelsd_(&m, &n, &nrhs, &copy, &lda, &rhs, &ldb, &s, &rcond, &rank, &work, &lwork, &iwork, &info)
        guard info == 0 else { throw LAPACKError(routine: "dgelsd", info: info) }
        let solution = Matrix(columns: (0..<b.columns).map { Array(rhs[$0 * leading..<$0 * leading + a.columns]) }, rows: a.columns)
        return (solution, Int(rank), s)
    }
}

public func scaled(_ m: Matrix, by factor: Double) -> Matrix {
    Matrix(rows: m.rows, columns: m.columns, storage: m.storage.map { $0 * factor })
}

public func add(_ a: Matrix, _ b: Matrix) -> Matrix {
    Matrix(rows: a.rows, columns: a.columns, storage: zip(a.storage, b.storage).map { $0 + $1 })
}

public func add(_ a: [Double], _ b: [Double]) -> [Double] { zip(a, b).map { $0 + $1 } }

public func dot(_ a: [Double], _ b: [Double]) -> Double { zip(a, b).reduce(0) { $0 + $1.0 * $1.1 } }

/// The Euclidean norm.
public func norm(_ v: [Double]) -> Double { dot(v, v).squareRoot() }
