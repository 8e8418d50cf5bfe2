/// A size in libvirt's scaled-integer notation (`<memory unit='KiB'>…`), in bytes. libvirt's
/// default unit is KiB for domain memory and bytes for storage.
func bytes(_ element: XMLTree.Element?, defaultUnit: String) -> UInt64? {
    guard let element else { return nil }
    return scaledBytes(element.trimmedText, unit: element.attribute("unit"), defaultUnit: defaultUnit)
}

private func scaledBytes(_ text: String?, unit: String?, defaultUnit: String) -> UInt64? {
    guard let text, let value = UInt64(text) else { return nil }
    let multiplier: UInt64
    switch (unit ?? defaultUnit).lowercased() {
    case "b", "bytes": multiplier = 1
    case "k", "kib": multiplier = 1 << 10
    case "kb": multiplier = 1_000
    case "m", "mib": multiplier = 1 << 20
    case "mb": multiplier = 1_000_000
    case "g", "gib": multiplier = 1 << 30
    case "gb": multiplier = 1_000_000_000
    case "t", "tib": multiplier = 1 << 40
    case "tb": multiplier = 1_000_000_000_000
    case "p", "pib": multiplier = 1 << 50
    case "pb": multiplier = 1_000_000_000_000_000
    case "e", "eib": multiplier = 1 << 60
    case "eb": multiplier = 1_000_000_000_000_000_000
    default: return nil
    }
    let (product, overflow) = value.multipliedReportingOverflow(by: multiplier)
    return overflow ? nil : product
}
