import Foundation
import Placement
#if canImport(FoundationXML)
import FoundationXML
#endif

/// The XML documents virtplace writes for libvirt: volumes, disk and interface devices, and a
/// domain re-created from a recorded definition. Pure: text in, text out. Every value goes
/// through `Escape.xmlText` or `Escape.xmlAttribute` (values in attributes are quoted with
/// `'`, which `xmlAttribute` escapes too).
public enum DefinitionXML {
    /// A `<volume>` of `capacityBytes` (sparse: allocation 0) in `format` (`raw`, `qcow2`; nil
    /// lets the pool choose).
    public static func volume(name: String, capacityBytes: UInt64, format: String?) -> String {
        var xml = "<volume><name>\(Escape.xmlText(name))</name>"
        xml += "<capacity unit='bytes'>\(capacityBytes)</capacity><allocation unit='bytes'>0</allocation>"
        if let format { xml += "<target><format type='\(Escape.xmlAttribute(format))'/></target>" }
        return xml + "</volume>"
    }

    /// A `<disk type='volume'>` naming a pool volume, as `attachDevice` takes it.
    /// - Parameters:
    ///   - format: the driver type (`raw`, `qcow2`); nil leaves it to libvirt (raw).
    ///   - bus: nil picks the bus the target's prefix implies (`vd` → virtio, `sd` → scsi,
    ///     `hd` → ide).
    ///   - bootOrder: a per-device boot order, when the domain uses those.
    public static func volumeDisk(pool: String, volume: String, format: String?, target: String, bus: String?,
                                  readOnly: Bool, bootOrder: Int? = nil) -> String {
        var xml = "<disk type='volume' device='disk'>"
        if let format { xml += "<driver name='qemu' type='\(Escape.xmlAttribute(format))'/>" }
        xml += "<source pool='\(Escape.xmlAttribute(pool))' volume='\(Escape.xmlAttribute(volume))'/>"
        xml += "<target dev='\(Escape.xmlAttribute(target))' bus='\(Escape.xmlAttribute(bus ?? busFor(target: target)))'/>"
        if readOnly { xml += "<readonly/>" }
        if let bootOrder { xml += "<boot order='\(bootOrder)'/>" }
        return xml + "</disk>"
    }

    /// An `<interface>` on a libvirt network (or, without one, a host bridge), with the MAC
    /// when given (libvirt generates one otherwise).
    public static func interface(network: String?, bridge: String?, mac: String?, model: String?) -> String {
        var xml: String
        if let network {
            xml = "<interface type='network'><source network='\(Escape.xmlAttribute(network))'/>"
        } else {
            xml = "<interface type='bridge'><source bridge='\(Escape.xmlAttribute(bridge ?? ""))'/>"
        }
        if let mac { xml += "<mac address='\(Escape.xmlAttribute(mac.lowercased()))'/>" }
        if let model { xml += "<model type='\(Escape.xmlAttribute(model))'/>" }
        return xml + "</interface>"
    }

    /// The bus a guest target name implies.
    public static func busFor(target: String) -> String {
        if target.hasPrefix("sd") { return "scsi" }
        if target.hasPrefix("hd") { return "ide" }
        if target.hasPrefix("xvd") { return "xen" }
        return "virtio"
    }

    /// A definition for re-creating a domain on another host from its boot volume (a manual
    /// move): the recorded definition keeps its name, UUID, memory, vCPUs, CPU, OS, features,
    /// clock, console, metadata and its first `network` or `bridge` interface (the primary
    /// NIC, with its MAC); every disk, other interface, host device, filesystem, TPM,
    /// redirected or shared-memory device is dropped (the move re-attaches the disks and NICs
    /// it knows, by later steps), the NVRAM path is dropped (a new one is made from the
    /// template; the source host keeps its own), and `bootDisk` (a `<disk>` element) is added —
    /// without its boot order when the OS section names boot devices.
    /// - Throws: `DomainXMLError` when `recordedXML` is not a domain definition.
    public static func recreatedDomain(from recordedXML: String, bootDisk: String) throws(DomainXMLError) -> String {
        let root = try parseXML(recordedXML, expectingRoot: "domain")
        guard root.element("uuid") != nil, root.element("name") != nil else {
            throw DomainXMLError("the recorded definition has no name or UUID")
        }
        root.element("os")?.element("nvram").map { $0.detach() }
        root.element("id").map { $0.detach() }
        let devices = root.element("devices") ?? {
            let element = XMLElement(name: "devices")
            root.addChild(element)
            return element
        }()
        let dropped: Set<String> = ["disk", "interface", "hostdev", "filesystem", "tpm", "redirdev", "smartcard", "shmem", "vsock"]
        let primary = devices.childElements.first { element in
            element.name == "interface" && ["network", "bridge"].contains(element.attribute(forName: "type")?.stringValue ?? "")
        }
        for element in devices.childElements where dropped.contains(element.name ?? "") && element !== primary {
            element.detach()
        }
        let disk: XMLElement
        do {
            disk = try XMLElement(xmlString: bootDisk)
        } catch {
            throw DomainXMLError("the boot disk element is not well-formed: \(error)")
        }
        // libvirt refuses per-device boot orders beside `<os><boot dev=…>`.
        if root.element("os")?.element("boot") != nil {
            for boot in disk.elements("boot") { boot.detach() }
        }
        // (corelibs-foundation traps on inserting into an element without children)
        if devices.childCount == 0 { devices.addChild(disk) } else { devices.insertChild(disk, at: 0) }
        return root.xmlString
    }
}
