// swift-tools-version:6.0
import PackageDescription

// Module layout follows the layers of the work:
//   LAMMPSLibrary      – thin typed binding to LAMMPS's C library API, loaded at run time (dlopen)
//   Atomistics         – a system defined by a LAMMPS input: relax, structures, file formats
//   Potentials         – SNAP potential files and the parameter vector Θ
//   ImplicitDerivative – ∇Θ X*, strain derivatives and Taylor expansions (the engine)
//   CLAPACK            – the only C shim: the few BLAS/LAPACK routines used, from OpenBLAS
//   implicit-lammps    – the command-line tool; argument parsing only
let package = Package(
    name: "implicit-lammps",
    products: [
        .executable(name: "implicit-lammps", targets: ["implicit-lammps"]),
        .library(name: "LAMMPSLibrary", targets: ["LAMMPSLibrary"]),
        .library(name: "Atomistics", targets: ["Atomistics"]),
        .library(name: "Potentials", targets: ["Potentials"]),
        .library(name: "ImplicitDerivative", targets: ["ImplicitDerivative"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
    ],
    targets: [
        .target(name: "LAMMPSLibrary"),
        .target(name: "Atomistics", dependencies: ["LAMMPSLibrary"]),
        .target(name: "Potentials"),
        .systemLibrary(name: "CLAPACK"),
        .target(name: "ImplicitDerivative", dependencies: ["Atomistics", "Potentials", "LAMMPSLibrary", "CLAPACK"]),
        .executableTarget(
            name: "implicit-lammps",
            dependencies: [
                "LAMMPSLibrary", "Atomistics", "Potentials", "ImplicitDerivative",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]),
        .executableTarget(name: "benchmarks", dependencies: ["LAMMPSLibrary", "Atomistics", "Potentials", "ImplicitDerivative"]),
        .testTarget(name: "LAMMPSLibraryTests", dependencies: ["LAMMPSLibrary"]),
        .testTarget(name: "AtomisticsTests", dependencies: ["Atomistics", "LAMMPSLibrary"]),
        .testTarget(name: "PotentialsTests", dependencies: ["Potentials"]),
        .testTarget(name: "ImplicitDerivativeTests", dependencies: ["ImplicitDerivative", "Atomistics", "Potentials"]),
        .testTarget(name: "CommandLineTests", dependencies: ["Potentials"]),
    ]
)
