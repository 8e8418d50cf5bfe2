// `virConnectAuthPtrDefault` is a C global variable, which Swift 6 flags as shared mutable
// state. libvirt initialises it statically and never writes it, so reading it is safe; the
// `@preconcurrency` import that says so is confined to this file.
@preconcurrency import CLibvirt

/// libvirt's default authentication callbacks (console prompts, polkit, SASL, ssh agent).
func defaultAuth() -> virConnectAuthPtr? {
    virConnectAuthPtrDefault
}
