// A volume copy's figures, shared by the Libvirt layer that makes them and the Engine that
// reports and verifies them.

/// How far a volume copy has come.
public struct TransferProgress: Equatable, Sendable {
    /// Bytes of the volume covered so far: data sent plus holes skipped.
    public var bytesCovered: UInt64
    /// Bytes of data actually sent.
    public var dataBytes: UInt64
    /// The source volume's size as stored (its file length: the end of the stream).
    public var totalBytes: UInt64
    /// Time since the copy started.
    public var elapsed: Duration
    /// SHA-256 of the bytes sent, holes counted as zeros: the volume's content as the source
    /// read it. Only on the final figures, and only when the copy was asked to hash.
    public var sha256: String?

    /// A progress value (copies make them; tests use this).
    public init(bytesCovered: UInt64, dataBytes: UInt64, totalBytes: UInt64, elapsed: Duration, sha256: String? = nil) {
        self.bytesCovered = bytesCovered; self.dataBytes = dataBytes; self.totalBytes = totalBytes
        self.elapsed = elapsed; self.sha256 = sha256
    }
}

/// A volume's size and content digest, as read back from its host.
public struct VolumeChecksum: Equatable, Sendable {
    /// Bytes read (data and holes): the volume's capacity.
    public var bytes: UInt64
    /// SHA-256 of the content, holes counted as zeros.
    public var sha256: String

    /// A checksum value.
    public init(bytes: UInt64, sha256: String) { self.bytes = bytes; self.sha256 = sha256 }
}
