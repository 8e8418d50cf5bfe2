import CLibvirt
import Foundation

/// A failure reported by libvirt, copied from its thread-local last error right after the
/// failing call. Decide on `code` (and `domain`), never on `message`: the text is for people.
public struct LibvirtError: Error, Equatable, Sendable, CustomStringConvertible {
    /// libvirt's error number (`virErrorNumber`), wrapped so that the codes virtplace acts on
    /// have names.
    public struct Code: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
        public var rawValue: Int32
        public init(rawValue: Int32) { self.rawValue = rawValue }
        init(_ number: virErrorNumber) { self.rawValue = Int32(bitPattern: number.rawValue) }

        /// `VIR_ERR_INTERNAL_ERROR`; also used when libvirt failed without saying why.
        public static let internalError = Code(VIR_ERR_INTERNAL_ERROR)
        /// `VIR_ERR_NO_SUPPORT`: the driver does not implement the call (the test driver, often).
        public static let noSupport = Code(VIR_ERR_NO_SUPPORT)
        /// `VIR_ERR_NO_CONNECT`: no connection to the hypervisor.
        public static let noConnect = Code(VIR_ERR_NO_CONNECT)
        /// `VIR_ERR_INVALID_ARG`: includes flags a driver does not accept.
        public static let invalidArg = Code(VIR_ERR_INVALID_ARG)
        /// `VIR_ERR_OPERATION_FAILED`.
        public static let operationFailed = Code(VIR_ERR_OPERATION_FAILED)
        /// `VIR_ERR_XML_ERROR`: an XML document was not well formed or not valid.
        public static let xmlError = Code(VIR_ERR_XML_ERROR)
        /// `VIR_ERR_DOM_EXIST`: a domain of that name or UUID exists already.
        public static let domainExists = Code(VIR_ERR_DOM_EXIST)
        /// `VIR_ERR_SYSTEM_ERROR`: a system call failed (connection refused, lost, …).
        public static let systemError = Code(VIR_ERR_SYSTEM_ERROR)
        /// `VIR_ERR_RPC`: the RPC layer failed (a lost connection often shows here).
        public static let rpc = Code(VIR_ERR_RPC)
        /// `VIR_ERR_NO_DOMAIN`: no such domain (or it vanished during the call).
        public static let noDomain = Code(VIR_ERR_NO_DOMAIN)
        /// `VIR_ERR_NO_NETWORK`.
        public static let noNetwork = Code(VIR_ERR_NO_NETWORK)
        /// `VIR_ERR_AUTH_FAILED`.
        public static let authFailed = Code(VIR_ERR_AUTH_FAILED)
        /// `VIR_ERR_AUTH_CANCELLED`.
        public static let authCancelled = Code(VIR_ERR_AUTH_CANCELLED)
        /// `VIR_ERR_AUTH_UNAVAILABLE`.
        public static let authUnavailable = Code(VIR_ERR_AUTH_UNAVAILABLE)
        /// `VIR_ERR_NO_STORAGE_POOL`.
        public static let noStoragePool = Code(VIR_ERR_NO_STORAGE_POOL)
        /// `VIR_ERR_NO_STORAGE_VOL`.
        public static let noStorageVolume = Code(VIR_ERR_NO_STORAGE_VOL)
        /// `VIR_ERR_STORAGE_VOL_EXIST`.
        public static let storageVolumeExists = Code(VIR_ERR_STORAGE_VOL_EXIST)
        /// `VIR_ERR_OPERATION_INVALID`: not applicable in the object's current state
        /// (e.g. starting a running domain).
        public static let operationInvalid = Code(VIR_ERR_OPERATION_INVALID)
        /// `VIR_ERR_CONFIG_UNSUPPORTED`.
        public static let configUnsupported = Code(VIR_ERR_CONFIG_UNSUPPORTED)
        /// `VIR_ERR_OPERATION_TIMEOUT`.
        public static let operationTimeout = Code(VIR_ERR_OPERATION_TIMEOUT)
        /// `VIR_ERR_MIGRATE_PERSIST_FAILED`: the guest moved but was not made persistent.
        public static let migratePersistFailed = Code(VIR_ERR_MIGRATE_PERSIST_FAILED)
        /// `VIR_ERR_NO_DOMAIN_SNAPSHOT`.
        public static let noDomainSnapshot = Code(VIR_ERR_NO_DOMAIN_SNAPSHOT)
        /// `VIR_ERR_ARGUMENT_UNSUPPORTED`.
        public static let argumentUnsupported = Code(VIR_ERR_ARGUMENT_UNSUPPORTED)
        /// `VIR_ERR_OPERATION_ABORTED`: e.g. a migration cancelled by `abortJob`.
        public static let operationAborted = Code(VIR_ERR_OPERATION_ABORTED)
        /// `VIR_ERR_NO_DOMAIN_METADATA`: the domain has no metadata element of that namespace.
        public static let noDomainMetadata = Code(VIR_ERR_NO_DOMAIN_METADATA)
        /// `VIR_ERR_MIGRATE_UNSAFE`: storage or cache mode makes live migration unsafe.
        public static let migrateUnsafe = Code(VIR_ERR_MIGRATE_UNSAFE)
        /// `VIR_ERR_OPERATION_UNSUPPORTED`.
        public static let operationUnsupported = Code(VIR_ERR_OPERATION_UNSUPPORTED)
        /// `VIR_ERR_AGENT_UNRESPONSIVE`.
        public static let agentUnresponsive = Code(VIR_ERR_AGENT_UNRESPONSIVE)
        /// `VIR_ERR_CPU_INCOMPATIBLE`: the destination cannot provide the guest CPU.
        public static let cpuIncompatible = Code(VIR_ERR_CPU_INCOMPATIBLE)

        public var description: String { "\(rawValue)" }
    }

    /// How serious libvirt considered the failure.
    public enum Level: Int32, Sendable {
        case none = 0, warning = 1, error = 2
    }

    /// libvirt's error number.
    public var code: Code
    /// libvirt's error domain (`virErrorDomain`: which part of libvirt raised it, e.g.
    /// `VIR_FROM_RPC` = 7, `VIR_FROM_QEMU` = 10, `VIR_FROM_TEST` = 12).
    public var domain: Int32
    /// libvirt's message, for people only.
    public var message: String
    public var level: Level

    /// Creates an error; virtplace uses this for failures it detects itself at the C boundary.
    public init(code: Code, domain: Int32 = 0, message: String, level: Level = .error) {
        self.code = code; self.domain = domain; self.message = message; self.level = level
    }

    /// The connection to the daemon is gone or could not be made: the host is unreachable
    /// rather than the request wrong.
    public var isConnectionFailure: Bool {
        switch code {
        case .systemError, .rpc, .noConnect: return true
        default: return domain == Int32(bitPattern: VIR_FROM_RPC.rawValue)
        }
    }

    /// Authentication was refused, cancelled or impossible.
    public var isAuthenticationFailure: Bool {
        code == .authFailed || code == .authCancelled || code == .authUnavailable
    }

    public var description: String {
        "\(message) (libvirt error \(code.rawValue), domain \(domain))"
    }

    /// Copies and clears libvirt's last error of this thread. Call it right after the failing
    /// call, in the same synchronous function.
    static func last() -> LibvirtError {
        guard let error = virGetLastError() else {
            return LibvirtError(code: .internalError, message: "libvirt reported a failure without an error")
        }
        let copy = LibvirtError(
            code: Code(rawValue: error.pointee.code),
            domain: error.pointee.domain,
            message: error.pointee.message.map { String(cString: $0) } ?? "unknown libvirt error",
            level: Level(rawValue: Int32(bitPattern: error.pointee.level.rawValue)) ?? .error
        )
        virResetLastError()
        return copy
    }
}

// MARK: - Checking C results

/// Throws libvirt's last error when a call returned a negative status.
@discardableResult
func check(_ status: Int32) throws(LibvirtError) -> Int32 {
    if status < 0 { throw LibvirtError.last() }
    return status
}

/// Throws libvirt's last error when a call returned NULL.
func check<T>(_ pointer: T?) throws(LibvirtError) -> T {
    guard let pointer else { throw LibvirtError.last() }
    return pointer
}

/// Takes ownership of a `char *` libvirt returned, frees it, and throws when it was NULL.
func takeString(_ pointer: UnsafeMutablePointer<CChar>?) throws(LibvirtError) -> String {
    guard let pointer else { throw LibvirtError.last() }
    defer { free(pointer) }
    return String(cString: pointer)
}
