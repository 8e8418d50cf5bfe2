// swift-tools-version:6.0
// virtplace: a declarative placement reconciler for libvirt fleets.
// No package dependencies: the toolchain, libvirt and libyaml only.
import PackageDescription

let package = Package(
    name: "virtplace",
    products: [
        .executable(name: "virtplace", targets: ["virtplace"]),
    ],
    targets: [
        // C libraries, found with pkg-config; apt names them when they are missing.
        .systemLibrary(
            name: "CLibvirt",
            pkgConfig: "libvirt",
            providers: [.apt(["libvirt-dev"])]
        ),
        .systemLibrary(
            name: "CYAML",
            pkgConfig: "yaml-0.1",
            providers: [.apt(["libyaml-dev"])]
        ),

        // libyaml events -> located node tree -> Decoder.
        .target(name: "YAMLDecoding", dependencies: ["CYAML"]),
        // Desired state, validation, observed values, the planner, renderers. Pure.
        .target(name: "Placement", dependencies: ["YAMLDecoding"]),
        // The only module that touches the libvirt C API.
        .target(name: "Libvirt", dependencies: ["CLibvirt", "Placement"]),
        // Observe hosts, execute plans, journal, lock.
        .target(name: "Engine", dependencies: ["Placement", "Libvirt"]),
        // Argument parsing, commands, terminal output, exit codes.
        .target(name: "VirtPlaceCLI", dependencies: ["YAMLDecoding", "Placement", "Libvirt", "Engine"]),
        .executableTarget(name: "virtplace", dependencies: ["VirtPlaceCLI"]),

        // Unit tests: no daemon.
        .testTarget(name: "YAMLDecodingTests", dependencies: ["YAMLDecoding"], resources: [.copy("Fixtures")]),
        .testTarget(name: "PlacementTests", dependencies: ["Placement", "YAMLDecoding"], resources: [.copy("Fixtures")]),
        .testTarget(name: "VirtPlaceCLITests", dependencies: ["VirtPlaceCLI", "Engine", "Placement"]),
        // libvirt's in-process test driver (test:///...): no daemon.
        .testTarget(name: "LibvirtTests", dependencies: ["Libvirt", "Placement"], resources: [.copy("Fixtures")]),
        .testTarget(name: "EngineTests", dependencies: ["Engine", "Libvirt", "Placement"], exclude: ["Fixtures"]),
        // Real libvirt daemons and QEMU guests: needs `lab/lab up` (see docs/lab.md).
        .testTarget(name: "LabTests", dependencies: ["Engine", "Libvirt", "Placement"]),
    ],
    swiftLanguageModes: [.v6]
)
