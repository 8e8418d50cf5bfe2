import CLibvirt
import Foundation

/// A typed-parameter list built with `virTypedParamsAdd*` and freed with `virTypedParamsFree`.
final class TypedParameters {
    private(set) var pointer: virTypedParameterPtr?
    private(set) var count: Int32 = 0
    private var capacity: Int32 = 0

    init() {}

    deinit {
        virTypedParamsFree(pointer, count)
    }

    func add(_ name: String, string value: String) throws(LibvirtError) {
        try check(virTypedParamsAddString(&pointer, &count, &capacity, name, value))
    }

    func add(_ name: String, ulonglong value: UInt64) throws(LibvirtError) {
        try check(virTypedParamsAddULLong(&pointer, &count, &capacity, name, value))
    }

    func add(_ name: String, int value: Int32) throws(LibvirtError) {
        try check(virTypedParamsAddInt(&pointer, &count, &capacity, name, value))
    }

    /// The values of the parameters called `name`, in order (multi-valued parameters).
    func strings(_ name: String) -> [String] {
        readStrings(pointer, count, name)
    }
}

/// Reads typed parameters that libvirt returned (the caller frees them).
struct TypedParameterReader {
    let pointer: virTypedParameterPtr?
    let count: Int32

    func ulonglong(_ name: String) -> UInt64? {
        var value: UInt64 = 0
        return virTypedParamsGetULLong(pointer, count, name, &value) == 1 ? value : nil
    }

    func uint(_ name: String) -> UInt32? {
        var value: UInt32 = 0
        return virTypedParamsGetUInt(pointer, count, name, &value) == 1 ? value : nil
    }

    func int(_ name: String) -> Int32? {
        var value: Int32 = 0
        return virTypedParamsGetInt(pointer, count, name, &value) == 1 ? value : nil
    }

    func string(_ name: String) -> String? {
        var value: UnsafePointer<CChar>?
        guard virTypedParamsGetString(pointer, count, name, &value) == 1, let value else { return nil }
        return String(cString: value)
    }

    func bool(_ name: String) -> Bool? {
        var value: Int32 = 0
        return virTypedParamsGetBoolean(pointer, count, name, &value) == 1 ? value != 0 : nil
    }
}

private func readStrings(_ pointer: virTypedParameterPtr?, _ count: Int32, _ name: String) -> [String] {
    guard let pointer else { return [] }
    var values: [String] = []
    for index in 0..<Int(count) {
        var parameter = pointer[index]
        let matches = withUnsafeBytes(of: &parameter.field) { raw in
            String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self) == name
        }
        if matches, parameter.type == Int32(VIR_TYPED_PARAM_STRING.rawValue), let string = parameter.value.s {
            values.append(String(cString: string))
        }
    }
    return values
}
