/* The observe benchmark's baseline: the least a program can do to read every domain's XML.
 * For each URI in turn (hosts one after another): virConnectOpen, virConnectListAllDomains,
 * then virDomainGetXMLDesc(INACTIVE) per domain. Prints the domain count. */
#include <libvirt/libvirt.h>
#include <libvirt/virterror.h>
#include <stdio.h>
#include <stdlib.h>

int main(int argc, char **argv) {
    long total = 0;
    for (int i = 1; i < argc; i++) {
        virConnectPtr conn = virConnectOpen(argv[i]);
        if (!conn) { fprintf(stderr, "cannot connect to %s\n", argv[i]); return 1; }
        virDomainPtr *domains = NULL;
        int n = virConnectListAllDomains(conn, &domains, 0);
        if (n < 0) { fprintf(stderr, "list failed on %s\n", argv[i]); return 1; }
        for (int d = 0; d < n; d++) {
            char *xml = virDomainGetXMLDesc(domains[d], VIR_DOMAIN_XML_INACTIVE);
            if (!xml) { fprintf(stderr, "xml failed\n"); return 1; }
            free(xml);
            virDomainFree(domains[d]);
        }
        free(domains);
        virConnectClose(conn);
        total += n;
    }
    printf("%ld\n", total);
    return 0;
}
