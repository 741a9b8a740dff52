import Atomistics
import Foundation
import LAMMPSLibrary
import LinearAlgebra
import Potentials

/// Reduces DFT data to a `TrainingTerm` for linear SNAP in one pass of LAMMPS over the
/// configurations, set up as `evaluate` sets it up: each row's value at Θ0 comes from the full
/// pair style (SNAP + reference) exactly as `evaluate` predicts it, and its derivatives in Θ from
/// LAMMPS's `compute snap` with the potential's own descriptor arguments.
public struct TrainingTermReduction {
    public var snapcoeff: URL, snapparam: URL
    /// Elements whose coefficients form Θ, in any order (nil: all of the file's).
    public var varyingElements: [String]?
    public var reference: EvaluateReference
    public var datasets: [String]
    public var groupWeights: GroupWeights
    public var weight: Double

    public init(snapcoeff: URL, snapparam: URL, varyingElements: [String]? = nil, reference: EvaluateReference,
                datasets: [String], groupWeights: GroupWeights = .uniform, weight: Double = 1) {
        (self.snapcoeff, self.snapparam, self.varyingElements) = (snapcoeff, snapparam, varyingElements)
        (self.reference, self.datasets, self.groupWeights, self.weight) = (reference, datasets, groupWeights, weight)
    }

    /// One configuration's unweighted rows before they are summed, for checks that need them stacked.
    public struct Rows {
        public var configuration: Configuration
        /// 1 × n: ∂((E − E_DFT)/N)/∂Θ, and its value (E(Θ0) − E_DFT)/N.
        public var energy: Matrix, energyResiduals: [Double]
        /// 3N × n in atom-ID order, LAMMPS's frame: ∂F/∂Θ, and F(Θ0) − F_DFT.
        public var force: Matrix, forceResiduals: [Double]
    }

    /// Reads and checks every dataset (and its groups' weights) before LAMMPS starts, then reduces
    /// each configuration; `observe` sees every configuration's rows.
    public func reduce(observing observe: ((Rows) throws -> Void)? = nil) throws -> TrainingTerm {
        guard weight.isFinite, weight >= 0 else {
            throw InputError.invalid("the training term's weight must be a finite number ≥ 0, got \(weight)")
        }
        let started = Date(), clock = ProgressClock()
        let run = EvaluateRun(snapcoeff: snapcoeff, snapparam: snapparam, reference: reference, datasets: datasets)
        let (elements, configurations) = try run.readData(label: Self.label)
        // Refuses a coefficient file whose count does not match its hyperparameters.
        let potential = try SNAPPotential(coefficientFile: snapcoeff, parameterFile: snapparam, typeElements: elements,
                                          varyingElements: varyingElements)
        var groups = try emptyGroups(configurations, parameters: potential.parameterCount)
        let lammps = try run.startLAMMPS(elements: elements, firstCell: LAMMPSCell(lattice: configurations[0].lattice))
        defer { lammps.close() }
        let pass = Pass(run: run, elements: elements, potential: potential, lammps: lammps)
        for (index, configuration) in configurations.enumerated() {
            let rows = try pass.rows(of: configuration, seed: index + 1)
            try observe?(rows)
            groups[groups.firstIndex { $0.name == configuration.group }!].add(rows)
            if clock.isDue() {
                progress("\(Self.label): \(index + 1) of \(configurations.count) configurations (\(clock.elapsed) s)")
            }
        }
        progress(String(format: "\(Self.label): %d configurations reduced to %d parameters in %.1f s", configurations.count,
                        potential.parameterCount, Date().timeIntervalSince(started)))
        return TrainingTerm(parameterNames: Self.parameterNames(potential), theta0: potential.theta, groups: groups, weight: weight)
    }

    static let label = "training term"

    /// `element:k` for the k-th coefficient after beta0 of each varying element, as `SNAPEnergy.parameterNames`.
    static func parameterNames(_ potential: SNAPPotential) -> [String] {
        potential.varyingElementNames.flatMap { element in (1...potential.descriptorCount).map { "\(element):\($0)" } }
    }

    /// The groups in the order the data first names them, each with its weights (a table that
    /// lacks one of them is refused here, before LAMMPS starts).
    private func emptyGroups(_ configurations: [Configuration], parameters n: Int) throws -> [TrainingTerm.Group] {
        var groups: [TrainingTerm.Group] = []
        for configuration in configurations where !groups.contains(where: { $0.name == configuration.group }) {
            let weights = try groupWeights.weights(of: configuration.group)
            groups.append(TrainingTerm.Group(name: configuration.group, energyWeight: weights.energy, forceWeight: weights.force,
                                             configurations: 0, energy: .init(parameters: n), force: .init(parameters: n)))
        }
        return groups
    }

    /// One LAMMPS instance set up for the whole pass, and what reading a configuration's rows needs.
    private struct Pass {
        static let computeID = "ilmp_snap"
        var run: EvaluateRun
        var elements: [String]
        var potential: SNAPPotential
        var lammps: LAMMPS

        func rows(of c: Configuration, seed: Int) throws -> Rows {
            let cell = try run.place(c, elements: elements, lammps: lammps, seed: seed)
            try defineDescriptorCompute()
            let result = try run.evaluate(c, cell: cell, lammps: lammps)
            let array = try lammps.computeArray(Self.computeID)
            try checkLayout(array, against: result)
            let columns = potential.varying.flatMap { element in
                (element * potential.descriptorCount..<(element + 1) * potential.descriptorCount).map { $0 }
            }
            let n = Double(c.natoms)
            let energy = Matrix(rows: [columns.map { array[0][$0] / n }])
            let force = Matrix(rows: (1...3 * c.natoms).map { row in columns.map { array[row][$0] } })
            return Rows(configuration: c, energy: energy, energyResiduals: [result.energyErrorPerAtom],
                        force: force, forceResiduals: zip(result.forces, result.dftForces).map { $0 - $1 })
        }

        /// compute snap sizes its array by the atom count when it is defined, and adds a pressure
        /// compute `ID_press` at each run's set-up that a second set-up would define again: so it
        /// is defined anew for every configuration, after its atoms.
        private func defineDescriptorCompute() throws {
            for id in [Self.computeID, Self.computeID + "_press"] where lammps.hasID(category: "compute", id: id) {
                try lammps.command("uncompute \(id)")
            }
            try lammps.command("compute \(Self.computeID) all snap \(potential.descriptorArguments)")
        }

        /// The layout this reduction reads (1 energy row, 3 force rows per atom in atom-ID order,
        /// 6 virial rows; a block of columns per type, then the pair style's own values), checked on
        /// the last column, which holds the energy and forces `evaluate` reads: a LAMMPS whose
        /// compute snap lays its array out otherwise is refused rather than misread.
        private func checkLayout(_ array: [[Double]], against result: EvaluateRun.Result) throws {
            let (atoms, k) = (result.configuration.natoms, potential.descriptorCount)
            let columns = elements.count * k + 1
            func close(_ a: Double, _ b: Double) -> Bool { abs(a - b) <= 1e-10 * max(1, abs(b)) }
            guard array.count == 1 + 3 * atoms + 6, array.allSatisfy({ $0.count == columns }),
                  close(array[0][columns - 1], result.energy),
                  result.forces.indices.allSatisfy({ close(array[1 + $0][columns - 1], result.forces[$0]) })
            else {
                throw InputError.unsupportedSystem("""
                    LAMMPS's compute snap (version \(lammps.version)) does not lay out its array as expected for \
                    \(result.configuration.name): 1 + 3 × \(atoms) + 6 rows of \(columns) columns, energy and forces in the last
                    """)
            }
        }
    }
}

extension TrainingTerm.Group {
    /// Adds one configuration's rows.
    mutating func add(_ rows: TrainingTermReduction.Rows) {
        energy.add(rows.energy, residuals: rows.energyResiduals)
        force.add(rows.force, residuals: rows.forceResiduals)
        configurations += 1
    }
}
