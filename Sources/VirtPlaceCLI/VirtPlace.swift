import Foundation
import Libvirt
import YAMLDecoding

/// The version of virtplace.
public let virtplaceVersion = "0.1.0"

/// The command-line entry point.
public enum VirtPlace {
    /// Runs the command line and exits the process with its exit code.
    public static func main(arguments: [String]) async -> Never {
        if arguments.first == "version" {
            print("virtplace \(virtplaceVersion) (libvirt \(libvirtLibraryVersion()), libyaml \(libyamlVersion()))")
            exit(0)
        }
        print("usage: virtplace <command> [options]")
        exit(arguments.isEmpty || arguments.first == "--help" ? 0 : 1)
    }
}
