import Foundation
import Placement
import YAMLDecoding

/// What a move records about a domain before it changes anything: `records/UUID/RUN-HOST.json`
/// beside the inactive definition `records/UUID/RUN-HOST.xml` (RUN: the run that started the
/// move; HOST: its source).
/// Enough for a later run — or an operator — to finish or undo the move: identity, lifecycle
/// state, autostart, tags, every disk with its volume, every interface with its MAC and network.
public struct MoveRecord: Codable, Equatable, Sendable {
    public var name: String
    public var uuid: String
    /// The host it was recorded on (the move's source) and that host's fault domain.
    public var host: String
    public var faultDomain: String?
    /// Lifecycle state when recorded (`running`, `shutoff`, …): what the move restores.
    public var state: String
    public var persistent: Bool
    public var autostart: Bool
    public var vcpus: Int
    public var memoryMiB: Int
    /// The fleet mark and tags of its virtplace metadata.
    public var fleet: String?
    public var tags: [String: String]
    /// Disks (pool and volume when in a pool) and interfaces (MAC, network or bridge), from
    /// the persistent definition.
    public var disks: [ObservedDisk]
    public var nics: [ObservedNIC]
    /// The move: kind, source, target, the run that started it, when it was recorded.
    public var move: String
    public var from: String?
    public var to: String?
    public var run: String
    public var time: String
    /// The inactive definition (with secure data) saved beside this file.
    public var definition: String
    /// Snapshot metadata saved beside it (`….snapshots/NN-NAME.xml`, parents first): a manual
    /// move cannot carry snapshots to the target, and libvirt's copy goes with the source's
    /// definition. Redefine them with `virsh snapshot-create --redefine` when wanted.
    public var snapshots: [String]

    /// The record that belongs to a saved definition (`….xml` → `….json`), nil when it
    /// cannot be read (see `read`).
    public static func load(definitionPath: String) -> MoveRecord? {
        guard let data = try? read(jsonPath(forDefinition: definitionPath)) else { return nil }
        return try? JSONDecoder().decode(MoveRecord.self, from: data)
    }

    /// The largest file of a move's record read: 16 MiB (a domain's definition is some
    /// kilobytes; libvirt refuses documents far smaller than this).
    public static let readLimit = 16 << 20

    /// A file of a move's record (its JSON, the saved definition), read as the journal is: never
    /// through a symbolic link, a regular file only, at most `readLimit` bytes (`FileInput`).
    /// - Throws: `FileInput.Failure` saying why it cannot be read.
    public static func read(_ path: String) throws(FileInput.Failure) -> Data {
        Data(try FileInput.read(atPath: path, limit: readLimit, noFollow: true))
    }

    /// `…/RUN-HOST.xml` → `…/RUN-HOST.json`.
    public static func jsonPath(forDefinition path: String) -> String {
        (path.hasSuffix(".xml") ? String(path.dropLast(4)) : path) + ".json"
    }
}
