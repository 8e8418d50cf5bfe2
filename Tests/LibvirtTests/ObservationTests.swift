import Foundation
import Libvirt
import Placement
import Testing

@Suite("Observing a host (test driver)")
struct ObservationTests {
    @Test("dump")
    func dump() throws {
        let connection = try Fixture.connection("host1")
        let observation = try connection.observeHost(name: "host1", faultDomain: "fd-1")
        let data = try ObservedFleet(hosts: [observation.host]).jsonData()
        print(String(decoding: data, as: UTF8.self))
        print(observation.calls)
    }
}
