// swift-tools-version:6.0
import PackageDescription

// Module layout follows the layers of the work:
//   LAMMPSLibrary      – thin typed binding to LAMMPS's C library API, loaded at run time (dlopen)
//   Atomistics         – a system defined by a LAMMPS input: relax, structures, file formats, the
//                        output folder of a run (one set, locked), checks of structures and targets;
//                        ForceProvider, all the engine asks of a system (Simulation conforms)
//   LinearAlgebra      – dense matrices and the LAPACK routines used (no LAMMPS)
//   Potentials         – parametrized energies: the protocols the engine and campaigns see, SNAP (analytic)
//                        and any LAMMPS potential by finite differences in Θ, potential files
//   ImplicitDerivative – ∇Θ X*, strain derivatives and Taylor expansions (the engine: numerics over
//                        a ForceProvider and ParameterDerivatives, never LAMMPS itself), and the saved
//                        derivative folder (manifest-checked)
//   ReferenceModel     – a Morse crystal in pure Swift with analytic derivatives: a force provider and
//                        parametrized energy that checks the engine without LAMMPS (UnitTests)
//   Workflows          – the campaigns: predict/validate, elastic constants, fit (with its loss
//                        figure), uq (with its files and figures); their YAML files (schemas,
//                        decoding, checks), building their systems, and every output they write
//   CLAPACK            – the only C shim: the few BLAS/LAPACK routines used, from OpenBLAS
//   implicit-lammps    – the command-line tool: parsing arguments, calling a runner, printing
let package = Package(
    name: "implicit-lammps",
    products: [
        .executable(name: "implicit-lammps", targets: ["implicit-lammps"]),
        .library(name: "LAMMPSLibrary", targets: ["LAMMPSLibrary"]),
        .library(name: "Atomistics", targets: ["Atomistics"]),
        .library(name: "Potentials", targets: ["Potentials"]),
        .library(name: "ImplicitDerivative", targets: ["ImplicitDerivative"]),
        .library(name: "Workflows", targets: ["Workflows"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/jpsim/Yams", from: "6.0.0"),
    ],
    targets: [
        .target(name: "LAMMPSLibrary"),
        .target(name: "Atomistics", dependencies: ["LAMMPSLibrary"]),
        .systemLibrary(name: "CLAPACK"),
        .target(name: "LinearAlgebra", dependencies: ["CLAPACK"]),
        .target(name: "Potentials", dependencies: ["Atomistics", "LAMMPSLibrary", "LinearAlgebra"]),
        .target(name: "ImplicitDerivative", dependencies: ["Atomistics", "Potentials", "LinearAlgebra"]),
        .target(name: "ReferenceModel", dependencies: ["Atomistics", "Potentials", "LinearAlgebra"]),
        .target(name: "Workflows", dependencies: ["Atomistics", "LAMMPSLibrary", "Potentials", "ImplicitDerivative", "LinearAlgebra",
                                                  .product(name: "Yams", package: "Yams")]),
        .executableTarget(
            name: "implicit-lammps",
            dependencies: [
                "LAMMPSLibrary", "Atomistics", "Potentials", "ImplicitDerivative", "Workflows", "LinearAlgebra",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]),
        .executableTarget(name: "benchmarks", dependencies: ["LAMMPSLibrary", "Atomistics", "Potentials", "ImplicitDerivative",
                                                            "Workflows", "LinearAlgebra"]),
        .testTarget(name: "LAMMPSLibraryTests", dependencies: ["LAMMPSLibrary"]),
        .testTarget(name: "AtomisticsTests", dependencies: ["Atomistics", "LAMMPSLibrary"]),
        .testTarget(name: "LinearAlgebraTests", dependencies: ["LinearAlgebra"]),
        .testTarget(name: "PotentialsTests", dependencies: ["Potentials", "Atomistics", "LinearAlgebra"]),
        .testTarget(name: "ImplicitDerivativeTests", dependencies: ["ImplicitDerivative", "Atomistics", "Potentials",
                                                                    "LinearAlgebra", "Workflows", "LAMMPSLibrary"]),
        // Workflows too: the fit and uq campaigns run on the reference model (LAMMPS is only loaded at run time).
        .testTarget(name: "UnitTests", dependencies: ["ReferenceModel", "ImplicitDerivative", "Potentials", "Atomistics",
                                                      "LinearAlgebra", "Workflows"]),
        // Workflows too: the training term is checked in process against evaluate's own run.
        .testTarget(name: "CommandLineTests", dependencies: ["Potentials", "Atomistics", "Workflows", "LinearAlgebra"]),
    ]
)
