import CLibvirt
import Foundation

/// A volume copy that cannot start.
public enum VolumeTransferError: Error, Equatable, Sendable, CustomStringConvertible {
    /// The destination's capacity is below the source's: libvirt would let the upload grow a
    /// file-backed volume past its capacity, so this is checked before any byte moves.
    case destinationTooSmall(volume: String, capacityBytes: UInt64, neededBytes: UInt64)

    public var description: String {
        switch self {
        case let .destinationTooSmall(volume, capacity, needed):
            "destination volume '\(volume)' holds \(capacity) bytes; the source needs \(needed)"
        }
    }
}

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
}

/// Copies a volume's bytes (as stored: qcow2 stays qcow2) from one host to another over two
/// libvirt streams, keeping holes as holes: `virStorageVolDownload` on the source and
/// `virStorageVolUpload` on the destination, both with the sparse-stream flag, pumped with
/// `virStreamSparseRecvAll` (data → `virStreamSend`, holes → `virStreamSendHole`), then
/// `virStreamFinish` on both (upload errors surface there). On failure the upload is
/// aborted (`virStreamAbort`) and the destination volume holds partial data: the caller
/// deletes or retries it.
public enum VolumeTransfer {
    /// Copies `source` into `destination`, which must exist already with the source's format
    /// and at least its capacity (the bytes are copied as stored, so a qcow2 source needs a
    /// qcow2 destination). Blocks until done: call it through `Connection.runDedicated`.
    /// `progress` is called on the copying thread, at most every `progressInterval` and once
    /// at the end.
    /// - Returns: the final progress figures.
    /// - Throws: `VolumeTransferError` before starting, `LibvirtError` from either side.
    @discardableResult
    public static func copy(
        from source: StorageVolume,
        to destination: StorageVolume,
        progressInterval: Duration = .milliseconds(500),
        progress: ((TransferProgress) -> Void)? = nil
    ) throws -> TransferProgress {
        let sourceInfo = try source.info()
        let destinationInfo = try destination.info()
        guard destinationInfo.capacityBytes >= sourceInfo.capacityBytes else {
            throw VolumeTransferError.destinationTooSmall(
                volume: destination.name, capacityBytes: destinationInfo.capacityBytes, neededBytes: sourceInfo.capacityBytes
            )
        }
        let total = try source.physicalBytes()
        let download = try check(virStreamNew(source.connection.handle, 0))
        defer { virStreamFree(download) }
        let upload = try check(virStreamNew(destination.connection.handle, 0))
        defer { virStreamFree(upload) }

        try check(virStorageVolDownload(source.handle, download, 0, 0, VIR_STORAGE_VOL_DOWNLOAD_SPARSE_STREAM.rawValue))
        if virStorageVolUpload(destination.handle, upload, 0, 0, VIR_STORAGE_VOL_UPLOAD_SPARSE_STREAM.rawValue) < 0 {
            let error = LibvirtError.last()
            abort(download)
            throw error
        }

        let pump = Pump(upload: upload, totalBytes: total, interval: progressInterval, progress: progress)
        let opaque = Unmanaged.passRetained(pump)
        defer { opaque.release() }

        let received = virStreamSparseRecvAll(download, { _, data, length, opaque in
            guard let opaque else { return -1 }
            return Unmanaged<Pump>.fromOpaque(opaque).takeUnretainedValue().send(data, length)
        }, { _, length, opaque in
            guard let opaque else { return -1 }
            return Unmanaged<Pump>.fromOpaque(opaque).takeUnretainedValue().skip(length)
        }, opaque.toOpaque())

        if received < 0 {
            // virStreamSparseRecvAll has aborted the download; the upload is ours to abort.
            let error = pump.error ?? LibvirtError.last()
            abort(upload)
            throw error
        }
        if virStreamFinish(download) < 0 {
            let error = LibvirtError.last()
            abort(upload)
            throw error
        }
        try check(virStreamFinish(upload))
        let final = pump.snapshot()
        progress?(final)
        return final
    }

    /// Aborts a stream after a failure, keeping the first error (the one already copied).
    private static func abort(_ stream: OpaquePointer) {
        _ = virStreamAbort(stream)
        virResetLastError()
    }
}

/// State shared with the C callbacks of `virStreamSparseRecvAll`, which run synchronously on
/// the copying thread: no locking needed.
private final class Pump {
    let upload: OpaquePointer
    let totalBytes: UInt64
    let interval: Duration
    let progress: ((TransferProgress) -> Void)?
    let clock = ContinuousClock()
    let started: ContinuousClock.Instant
    var lastReport: ContinuousClock.Instant
    var covered: UInt64 = 0
    var data: UInt64 = 0
    /// The upload side's error, copied in the callback that saw it.
    var error: LibvirtError?

    init(upload: OpaquePointer, totalBytes: UInt64, interval: Duration, progress: ((TransferProgress) -> Void)?) {
        self.upload = upload
        self.totalBytes = totalBytes
        self.interval = interval
        self.progress = progress
        self.started = clock.now
        self.lastReport = started
    }

    func send(_ bytes: UnsafePointer<CChar>?, _ length: Int) -> Int32 {
        guard let bytes else { return -1 }
        var offset = 0
        while offset < length {
            let sent = virStreamSend(upload, bytes + offset, length - offset)
            if sent < 0 {
                error = LibvirtError.last()
                return -1
            }
            offset += Int(sent)
        }
        advance(data: UInt64(length), covered: UInt64(length))
        return Int32(clamping: length)
    }

    func skip(_ length: Int64) -> Int32 {
        if virStreamSendHole(upload, length, 0) < 0 {
            error = LibvirtError.last()
            return -1
        }
        advance(data: 0, covered: UInt64(max(0, length)))
        return 0
    }

    func snapshot() -> TransferProgress {
        TransferProgress(bytesCovered: covered, dataBytes: data, totalBytes: totalBytes, elapsed: clock.now - started)
    }

    private func advance(data: UInt64, covered: UInt64) {
        self.data += data
        self.covered += covered
        guard let progress else { return }
        let now = clock.now
        if now - lastReport >= interval {
            lastReport = now
            progress(snapshot())
        }
    }
}
