import CYAML

/// The libyaml version this build links, e.g. `0.2.5`.
public func libyamlVersion() -> String {
    String(cString: yaml_get_version_string())
}
