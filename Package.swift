// swift-tools-version:6.0
// virtplace: a declarative placement reconciler for libvirt fleets.
// No package dependencies: the toolchain, libvirt and libyaml only.
import PackageDescription
import Foundation

// The version lives in one place, the VERSION file; the commit comes from git. Both reach the
// binary through CBuildInfo (`virtplace version`), and scripts/package reads VERSION too.
// Anything unexpected in either (the file is the repository's, but still) falls back to a
// placeholder rather than into a C string literal.
let packageDirectory = Context.packageDirectory
let version: String = {
    let text = (try? String(contentsOfFile: packageDirectory + "/VERSION", encoding: .utf8)) ?? ""
    let trimmed = text.trimmingCharacters(in: .whitespacesAndNewlines)
    let allowed = trimmed.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || ".+~-".contains($0)) }
    return !trimmed.isEmpty && trimmed.count <= 40 && allowed ? trimmed : "0.0.0"
}()
let commit: String = {
    guard let git = Context.gitInformation, git.currentCommit.count == 40,
          git.currentCommit.allSatisfy({ $0.isHexDigit }) else { return "unknown" }
    return git.currentCommit + (git.hasUncommittedChanges ? "-dirty" : "")
}()

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

        // The version and commit of this build (see the top of this file).
        .target(name: "CBuildInfo", cSettings: [
            .define("VIRTPLACE_VERSION", to: "\"\(version)\""),
            .define("VIRTPLACE_COMMIT", to: "\"\(commit)\""),
        ]),

        // SHA-256 blocks with the x86 SHA extensions, for Placement's SHA256 when the CPU has them.
        .target(name: "CSHA256"),

        // libyaml events -> located node tree -> Decoder.
        .target(name: "YAMLDecoding", dependencies: ["CYAML"]),
        // Desired state, validation, observed values, the planner, renderers. Pure.
        .target(name: "Placement", dependencies: ["YAMLDecoding", "CSHA256"]),
        // The only module that touches the libvirt C API.
        .target(name: "Libvirt", dependencies: ["CLibvirt", "Placement"]),
        // Observe hosts, execute plans, journal, lock. Only LibvirtFleet.swift imports Libvirt:
        // the executor speaks the driver protocol in Engine's own types (FleetDriver.swift).
        .target(name: "Engine", dependencies: ["Placement", "Libvirt"]),
        // Argument parsing, commands, terminal output, exit codes.
        .target(name: "VirtPlaceCLI", dependencies: ["YAMLDecoding", "Placement", "Libvirt", "Engine", "CBuildInfo"]),
        .executableTarget(name: "virtplace", dependencies: ["VirtPlaceCLI"]),

        // Shared by the unit-test targets: the in-memory fleet (no libvirt) and common fixtures.
        .target(name: "TestSupport", dependencies: ["Engine", "Placement"], path: "Tests/TestSupport"),

        // Unit tests: no daemon.
        .testTarget(name: "YAMLDecodingTests", dependencies: ["YAMLDecoding"], resources: [.copy("Fixtures")]),
        .testTarget(name: "PlacementTests", dependencies: ["Placement", "YAMLDecoding"], resources: [.copy("Fixtures")]),
        .testTarget(name: "VirtPlaceCLITests", dependencies: ["VirtPlaceCLI", "Engine", "Placement", "TestSupport"]),
        // libvirt's in-process test driver (test:///...): no daemon.
        .testTarget(name: "LibvirtTests", dependencies: ["Libvirt", "Placement"], resources: [.copy("Fixtures")]),
        // Libvirt only for the tests of LibvirtFleet and the observer over the test driver.
        .testTarget(name: "EngineTests", dependencies: ["Engine", "Libvirt", "Placement", "TestSupport"], exclude: ["Fixtures"]),
        // Real libvirt daemons and QEMU guests: needs `lab/lab up` (see docs/lab.md).
        .testTarget(name: "LabTests", dependencies: ["Engine", "Libvirt", "Placement", "TestSupport"]),
    ],
    swiftLanguageModes: [.v6]
)
