import Foundation
import Libvirt
import Testing

// Guests as real fleets have them (issue 20): a q35 machine with the devices virt-install
// writes, UEFI with a per-domain NVRAM, an emulated TPM 2.0 (swtpm). Their state outside the
// volumes is never dropped: a live move carries both, a move that would leave NVRAM or TPM
// state behind is refused before anything changes, and every undefine keeps both. Judged
// by virsh, the files on each host (checksums), the guest's console (heartbeat, boot id, and
// the marker the guest keeps in a firmware variable), never by virtplace's report. A live move
// carries NVRAM and an emulated TPM's state; every other move kind is refused for them.
//
// UEFI guests boot slowly under TCG (OVMF: some 40 s), so each test boots its guest once and
// checks several claims on it, in order.

@Suite(.serialized) struct RealGuestLabTests {
    /// A q35 + UEFI guest, booted with a marker written into its NVRAM by the guest itself:
    /// 1. moved live host1 → host2 by virtplace: never restarted, heartbeat on, the NVRAM file on
    ///    host2 has the source's bytes (and the marker), the source's file is still there;
    /// 2. a move that is not live (reboot, cold, manual allowed) is refused, `move.nvram`, and
    ///    nothing changes (virsh, checksums, boot id);
    /// 3. virtplace's own undefine (the one every move and rollback uses) of the shut-off guest
    ///    keeps the NVRAM file, byte for byte.
    @Test func aUEFIGuestMovesLiveWithItsNVRAMAndIsNeverMovedWithoutIt() throws {
        let lab = try Lab.require()
        let vp = try VirtPlace(lab: lab)
        let name = Lab.uniqueName("uefi")
        defer { lab.removeGuest(name) }
        let facts = try lab.createGuest("heartbeat", name, host: 1, ["--machine", "q35", "--uefi", "--wait"])
        let marker = try #require(facts["nvram.marker"])
        let nvram = try #require(facts["nvram"])
        #expect(lab.consoleContains(name, "hb-nvram-written \(marker)"), "the guest wrote its marker into the NVRAM")
        let source = lab.hostPath(1, nvram)
        let sum = try #require(lab.sha256(source), "the NVRAM file on host1: \(source)")
        #expect(lab.fileContains(source, marker), "the marker is in host1's NVRAM file")
        let boot = try #require(lab.bootID(name))
        #expect(lab.virsh(1, ["dumpxml", name]).stdout.contains("machine='pc-q35"), "a q35 machine")

        // 1. Live, by virtplace.
        let live = try vp.placement("""
          \(name):
            host: host2
        """, name: "live.yaml")
        let moved = vp.apply(live)
        #expect(moved.status == 0, "\(moved.output)")
        #expect(moved.stdout.contains("live"), "\(moved.stdout)")
        #expect(lab.whereIs(name) == [2: "running"], "\(lab.whereIs(name))")
        #expect(lab.bootID(name) == boot, "never restarted")
        let beat = try #require(lab.heartbeat(name))
        #expect(lab.waitHeartbeat(name, after: beat) != nil, "its heartbeat goes on")
        let target = lab.hostPath(2, nvram)
        #expect(lab.sha256(target) == sum, "host2's NVRAM file has the source's bytes")
        #expect(lab.fileContains(target, marker), "and the guest's marker")
        #expect(lab.sha256(source) == sum, "host1's NVRAM file is kept, unchanged")

        // 2. Not live: refused before anything changes.
        let notLive = try vp.placement("""
          \(name):
            host: host3
            moves: [reboot, cold, manual]
        """, name: "not-live.yaml")
        let refused = expectUntouched(lab, "the refused move of a UEFI guest") { vp.apply(notLive) }
        #expect(refused.status == 3, "\(refused.output)")
        #expect(refused.stdout.contains("[move.nvram]") && refused.stdout.contains(nvram), "\(refused.output)")
        #expect(lab.whereIs(name) == [2: "running"] && lab.bootID(name) == boot, "untouched")
        #expect(lab.sha256(target) == sum && !FileManager.default.fileExists(atPath: lab.hostPath(3, nvram)),
                "the NVRAM stays on host2 only")

        // 3. virtplace's undefine keeps the NVRAM (KEEP_NVRAM; without it libvirt refuses).
        #expect(lab.virsh(2, ["destroy", name]).status == 0)
        let shutOff = try #require(lab.sha256(target))
        let connection = try Connection(uri: lab.uri(2))
        try connection.lookupDomain(name: name).undefine()
        #expect(lab.whereIs(name).isEmpty, "undefined: \(lab.whereIs(name))")
        #expect(lab.sha256(target) == shutOff && lab.fileContains(target, marker), "the NVRAM file is kept, byte for byte")
    }

    /// A q35 guest with an emulated TPM 2.0 (swtpm; its state under the host's
    /// /var/lib/libvirt/swtpm/UUID):
    /// 1. moved live host1 → host2 by virtplace: never restarted, heartbeat on, host2's TPM
    ///    state has the source's bytes (libvirt then deletes the source's: one copy);
    /// 2. a move that is not live (reboot, cold, manual allowed) is refused (`move.tpm-state`)
    ///    and nothing changes (virsh, the state's checksum, boot id);
    /// 3. virtplace's own undefine of the shut-off guest keeps the TPM state, byte for byte
    ///    (KEEP_TPM: without it libvirt deletes it).
    @Test func aTPMGuestMovesLiveWithItsStateAndIsNeverMovedWithoutIt() throws {
        let lab = try Lab.require()
        let vp = try VirtPlace(lab: lab)
        let name = Lab.uniqueName("tpm")
        defer { lab.removeGuest(name) }
        let facts = try lab.createGuest("heartbeat", name, host: 1, ["--machine", "q35", "--tpm", "--wait"])
        let uuid = try #require(facts["uuid"])
        let stateFile = "/var/lib/libvirt/swtpm/\(uuid)/tpm2/tpm2-00.permall"
        let source = lab.hostPath(1, stateFile)
        let sum = try #require(lab.sha256(source), "swtpm's state on host1: \(source)")
        #expect(!FileManager.default.fileExists(atPath: lab.hostPath(2, stateFile)), "host2 has none")
        #expect(lab.virsh(1, ["dumpxml", name]).stdout.contains("<backend type='emulator' version='2.0'"), "an emulated TPM 2.0")
        let boot = try #require(lab.bootID(name))

        // 1. Live, by virtplace: the state travels with the guest.
        let live = try vp.placement("""
          \(name):
            host: host2
        """, name: "live.yaml")
        let moved = vp.apply(live)
        #expect(moved.status == 0, "\(moved.output)")
        #expect(lab.whereIs(name) == [2: "running"], "\(lab.whereIs(name))")
        #expect(lab.bootID(name) == boot, "never restarted")
        let beat = try #require(lab.heartbeat(name))
        #expect(lab.waitHeartbeat(name, after: beat) != nil, "its heartbeat goes on")
        let target = lab.hostPath(2, stateFile)
        #expect(lab.sha256(target) == sum, "host2's TPM state has the source's bytes")
        #expect(!FileManager.default.fileExists(atPath: source), "libvirt removed the source's copy: one TPM state, on host2")

        // 2. Not live: refused, nothing changes.
        let notLive = try vp.placement("""
          \(name):
            host: host3
            moves: [reboot, cold, manual]
        """, name: "not-live.yaml")
        let refused = expectUntouched(lab, "the refused move of a TPM guest") { vp.apply(notLive) }
        #expect(refused.status == 3, "\(refused.output)")
        #expect(refused.stdout.contains("[move.tpm-state]"), "\(refused.output)")
        #expect(lab.whereIs(name) == [2: "running"] && lab.bootID(name) == boot, "untouched")
        #expect(lab.sha256(target) == sum && !FileManager.default.fileExists(atPath: lab.hostPath(3, stateFile)),
                "the TPM state stays on host2 only")

        // 3. virtplace's undefine keeps the TPM state.
        #expect(lab.virsh(2, ["destroy", name]).status == 0)
        let shutOff = try #require(lab.sha256(target))
        let connection = try Connection(uri: lab.uri(2))
        try connection.lookupDomain(name: name).undefine()
        #expect(lab.whereIs(name).isEmpty, "undefined: \(lab.whereIs(name))")
        #expect(lab.sha256(target) == shutOff, "the TPM state is kept, byte for byte")
    }
}

extension Lab {
    /// Where host `i`'s libvirt sees `path` under /var/lib/libvirt (each host its own).
    func hostPath(_ i: Int, _ path: String) -> String {
        let prefix = "/var/lib/libvirt"
        guard path.hasPrefix(prefix + "/"), let root = env["LAB_VAR_LIB_LIBVIRT_\(i)"] else { return "/nonexistent" + path }
        return root + path.dropFirst(prefix.count)
    }

    /// Whether the file holds `text`'s bytes.
    func fileContains(_ path: String, _ text: String) -> Bool {
        guard let data = FileManager.default.contents(atPath: path) else { return false }
        return data.range(of: Data(text.utf8)) != nil
    }

    /// Whether the guest's console has a line containing `text`.
    func consoleContains(_ name: String, _ text: String) -> Bool {
        let console = (try? String(contentsOfFile: consoleDir + "/\(name).log", encoding: .utf8)) ?? ""
        return console.split(whereSeparator: \.isNewline).contains { $0.contains(text) }
    }
}
