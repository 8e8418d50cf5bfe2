import Foundation
@testable import Libvirt
import Testing

// Every undefine virtplace makes keeps a domain's NVRAM and its emulated TPM's state: without
// `KEEP_TPM` libvirt deletes the TPM state, and the flags that delete data (`NVRAM`, `TPM`,
// `MANAGED_SAVE`) are never passed. The flags are a pure function of the inactive definition;
// the sources are read to show that no other undefine exists.

@Suite("Undefine keeps NVRAM and TPM state")
struct UndefineFlagsTests {
    static func domain(os: String = "", devices: String = "") -> String {
        """
        <domain type='qemu'><name>g</name><memory unit='MiB'>128</memory>
          <os><type arch='x86_64' machine='q35'>hvm</type>\(os)</os>
          <devices>\(devices)</devices></domain>
        """
    }

    static let pflash = "<loader readonly='yes' type='pflash'>/usr/share/OVMF/OVMF_CODE_4M.fd</loader><nvram template='/usr/share/OVMF/OVMF_VARS_4M.fd'>/var/lib/libvirt/qemu/nvram/g_VARS.fd</nvram>"
    static let emulatedTPM = "<tpm model='tpm-crb'><backend type='emulator' version='2.0'/></tpm>"

    /// (inactive XML, expected flags without and with dropped snapshot metadata)
    static let cases: [(String, String, UndefineFlags)] = [
        ("no firmware, no TPM", domain(), []),
        ("pflash loader + NVRAM file", domain(os: pflash), [.keepNVRAM]),
        ("firmware='efi', no NVRAM element yet", domain(os: "").replacingOccurrences(of: "<os>", with: "<os firmware='efi'>"), [.keepNVRAM]),
        ("an NVRAM element alone", domain(os: "<nvram>/nv/g_VARS.fd</nvram>"), [.keepNVRAM]),
        ("an emulated TPM", domain(devices: emulatedTPM), [.keepTPM]),
        ("a passthrough TPM (no state of libvirt's)", domain(devices: "<tpm model='tpm-tis'><backend type='passthrough'><device path='/dev/tpm0'/></backend></tpm>"), []),
        ("UEFI and an emulated TPM", domain(os: pflash, devices: emulatedTPM), [.keepNVRAM, .keepTPM]),
    ]

    @Test(arguments: 0..<cases.count)
    func theFlagsKeepWhatTheDomainHas(_ i: Int) throws {
        let (what, xml, keep) = Self.cases[i]
        let plain = try Domain.undefineFlags(inactiveXML: xml, droppingSnapshotMetadata: false)
        #expect(plain == keep, "\(what)")
        let dropping = try Domain.undefineFlags(inactiveXML: xml, droppingSnapshotMetadata: true)
        #expect(dropping == keep.union([.snapshotsMetadata, .checkpointsMetadata]), "\(what)")
        for flags in [plain, dropping] {
            #expect(flags.isDisjoint(with: [.nvram, .tpm, .managedSave]), "\(what): a flag that deletes data")
        }
    }

    /// The only undefine in the sources is `Domain.undefine(flags:)`, and only
    /// `Domain.undefine(droppingSnapshotMetadata:)` calls it: every other undefine goes through
    /// the flags above. No source outside the flag table names a flag that deletes data.
    @Test func everyUndefineInTheSourcesGoesThroughTheKeepingFlags() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let base = root.appendingPathComponent("Sources")
        var texts: [String: String] = [:]
        let walker = try #require(FileManager.default.enumerator(atPath: base.path))
        for case let relative as String in walker where relative.hasSuffix(".swift") {
            texts["Sources/" + relative] = try String(contentsOf: base.appendingPathComponent(relative), encoding: .utf8)
        }
        #expect(texts.count > 50, "found only \(texts.count) sources: the scan is broken")
        func count(_ needle: String, in text: String) -> Int { text.components(separatedBy: needle).count - 1 }
        for (path, text) in texts.sorted(by: { $0.key < $1.key }) {
            let isDomain = path == "Sources/Libvirt/Domain.swift"
            let calls = try NSRegularExpression(pattern: #"virDomainUndefine\w*\("#)
            #expect(calls.numberOfMatches(in: text, range: NSRange(text.startIndex..., in: text)) == (isDomain ? 1 : 0),
                    "\(path): a libvirt undefine outside Domain.undefine(flags:)")
            #expect(count("undefine(flags: ", in: text) == (isDomain ? 3 : 0), "\(path): an undefine with flags of its own")
            // The deleting flags, by name, where libvirt is called (their definitions aside).
            let calling = path.hasPrefix("Sources/Libvirt/") || path.hasPrefix("Sources/Engine/")
            if calling && path != "Sources/Libvirt/DomainTypes.swift" {
                let deleting = try NSRegularExpression(pattern: #"\.(managedSave|nvram|tpm)\b"#)
                let found = deleting.numberOfMatches(in: text, range: NSRange(text.startIndex..., in: text))
                #expect(found == 0, "\(path) names an undefine flag that deletes data")
            }
        }
        let domain = try #require(texts["Sources/Libvirt/Domain.swift"])
        #expect(domain.contains("if definition.hasNVRAM { flags.insert(.keepNVRAM) }"))
        #expect(domain.contains("if definition.hasEmulatedTPM { flags.insert(.keepTPM) }"))
    }
}
