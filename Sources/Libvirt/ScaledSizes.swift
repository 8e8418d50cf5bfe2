/// A size in libvirt's scaled-integer notation (`<memory unit='KiB'>…`), in bytes. libvirt's
/// default unit is KiB for domain memory and bytes for storage.
func bytes(_ element: XMLTree.Element?, defaultUnit: String) -> UInt64? {
    guard let element else { return nil }
    return scaledBytes(element.trimmedText, unit: element.attribute("unit"), defaultUnit: defaultUnit)
}

/// Bytes per unit of libvirt's scaled integers, by lower-cased unit name.
private let unitBytes: [String: UInt64] = [
    "b": 1, "bytes": 1,
    "k": 1 << 10, "kib": 1 << 10, "kb": 1_000,
    "m": 1 << 20, "mib": 1 << 20, "mb": 1_000_000,
    "g": 1 << 30, "gib": 1 << 30, "gb": 1_000_000_000,
    "t": 1 << 40, "tib": 1 << 40, "tb": 1_000_000_000_000,
    "p": 1 << 50, "pib": 1 << 50, "pb": 1_000_000_000_000_000,
    "e": 1 << 60, "eib": 1 << 60, "eb": 1_000_000_000_000_000_000,
]

private func scaledBytes(_ text: String?, unit: String?, defaultUnit: String) -> UInt64? {
    guard let text, let value = UInt64(text), let multiplier = unitBytes[(unit ?? defaultUnit).lowercased()] else { return nil }
    let (product, overflow) = value.multipliedReportingOverflow(by: multiplier)
    return overflow ? nil : product
}
