/* The observe benchmark's baselines: the least a program can do to read every domain's XML.
 * Per URI: virConnectOpen, virConnectListAllDomains, then virDomainGetXMLDesc(INACTIVE) per
 * domain. Without options the hosts are read one after another (the sequential baseline); with
 * -p each host on a thread of its own, all at once (the parallel baseline, what virtplace's
 * observe is held to). Prints the domain count.
 *
 *   observe-baseline [-p] URI...
 */
#include <libvirt/libvirt.h>
#include <libvirt/virterror.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct host {
    const char *uri;
    long domains; /* -1: failed */
};

static void *read_host(void *arg) {
    struct host *host = arg;
    host->domains = -1;
    virConnectPtr conn = virConnectOpen(host->uri);
    if (!conn) { fprintf(stderr, "cannot connect to %s\n", host->uri); return NULL; }
    virDomainPtr *domains = NULL;
    int n = virConnectListAllDomains(conn, &domains, 0);
    if (n < 0) { fprintf(stderr, "list failed on %s\n", host->uri); virConnectClose(conn); return NULL; }
    int failed = 0;
    for (int d = 0; d < n; d++) {
        char *xml = virDomainGetXMLDesc(domains[d], VIR_DOMAIN_XML_INACTIVE);
        if (!xml) failed = 1;
        free(xml);
        virDomainFree(domains[d]);
    }
    free(domains);
    virConnectClose(conn);
    if (failed) { fprintf(stderr, "xml failed on %s\n", host->uri); return NULL; }
    host->domains = n;
    return NULL;
}

int main(int argc, char **argv) {
    int parallel = argc > 1 && strcmp(argv[1], "-p") == 0;
    int first = parallel ? 2 : 1, count = argc - first;
    if (count < 1) { fprintf(stderr, "usage: observe-baseline [-p] URI...\n"); return 2; }
    if (virInitialize() < 0) { fprintf(stderr, "virInitialize failed\n"); return 1; }
    struct host *hosts = calloc(count, sizeof *hosts);
    pthread_t *threads = calloc(count, sizeof *threads);
    if (!hosts || !threads) return 1;
    for (int i = 0; i < count; i++) {
        hosts[i].uri = argv[first + i];
        if (!parallel) read_host(&hosts[i]);
        else if (pthread_create(&threads[i], NULL, read_host, &hosts[i]) != 0) { fprintf(stderr, "no thread\n"); return 1; }
    }
    long total = 0;
    for (int i = 0; i < count; i++) {
        if (parallel) pthread_join(threads[i], NULL);
        if (hosts[i].domains < 0) return 1;
        total += hosts[i].domains;
    }
    printf("%ld\n", total);
    free(hosts);
    free(threads);
    return 0;
}
