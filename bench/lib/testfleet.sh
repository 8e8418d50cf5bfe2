# Sourced by bench/soak and bench/scale: a fleet of simulated hosts for libvirt's test driver
# (test:///ABS/PATH.xml, in process, no daemon; its state lives per connection and is lost at
# close, so every connection opened starts again from the file).
#
# testfleet_node FILE HOST DOMAINS [DRIFT]
#   writes one host's node XML: DOMAINS shut-off domains fleet-HOST-NNNN (64 MiB, 1 vCPU, a
#   disk volume in the host's `local` pool, a NIC on `lan`, virtplace metadata of fleet
#   `bench` with a tag). DRIFT=1 writes the same domains drifted from the placement below:
#   every 4th one running instead of shut off, every 4th (others) without its tag.
# testfleet_placement FILE HOSTS DOMAINS DIR
#   writes the placement of HOSTS hosts (test:///DIR/hostN.xml) and their domains, each
#   pinned to its host, shut off, tagged.

testfleet_uuid() { printf '%08x-0000-4000-8000-%012x' "$1" "$2"; }

testfleet_node() {
    local file=$1 h=$2 n=$3 drift=${4:-0} d name state tag
    {
        echo "<node xmlns:test='http://libvirt.org/schemas/domain/test/1.0'>"
        echo "<cpu><mhz>2000</mhz><model>x86_64</model><nodes>1</nodes><sockets>1</sockets><cores>32</cores><threads>2</threads></cpu>"
        echo "<memory>1073741824</memory>"
        for ((d = 1; d <= n; d++)); do
            name=$(printf 'fleet-%d-%04d' "$h" "$d")
            state=5; tag="<virtplace:tag key='n'>$d</virtplace:tag>"
            if ((drift)); then
                ((d % 4 == 1)) && state=1
                ((d % 4 == 2)) && tag=""
            fi
            printf "<domain type='test'><name>%s</name><uuid>%s</uuid>" "$name" "$(testfleet_uuid "$h" "$d")"
            printf "<metadata><virtplace:instance xmlns:virtplace='urn:virtplace:1' fleet='bench'>%s</virtplace:instance></metadata>" "$tag"
            printf "<memory unit='MiB'>64</memory><vcpu>1</vcpu><os><type>hvm</type></os><devices>"
            printf "<disk type='volume' device='disk'><driver name='qemu' type='qcow2'/><source pool='local' volume='%s.qcow2'/><target dev='vda' bus='virtio'/></disk>" "$name"
            printf "<interface type='network'><mac address='52:54:%02x:%02x:%02x:%02x'/><source network='lan'/><model type='virtio'/></interface>" \
                $((h / 256)) $((h % 256)) $((d / 256)) $((d % 256))
            printf "</devices><test:runstate>%d</test:runstate></domain>\n" "$state"
        done
        printf "<network><name>lan</name><uuid>%s</uuid><forward mode='bridge'/><bridge name='br%d'/></network>\n" "$(testfleet_uuid "$h" 0)" "$h"
        printf "<pool type='dir'><name>local</name><uuid>%s</uuid><target><path>/var/lib/libvirt/images</path></target>\n" "$(testfleet_uuid "$h" 99999)"
        for ((d = 1; d <= n; d++)); do
            printf "<volume><name>fleet-%d-%04d.qcow2</name><capacity unit='MiB'>64</capacity><allocation unit='MiB'>1</allocation><target><format type='qcow2'/></target></volume>\n" "$h" "$d"
        done
        echo "</pool></node>"
    } >"$file"
}

testfleet_placement() {
    local file=$1 hosts=$2 n=$3 dir=$4 h d name
    {
        echo "apiVersion: virtplace/v1"; echo "kind: Placement"; echo "metadata: {name: bench}"
        echo "policy: {parallel: {total: 8, perHost: 4}}"
        echo "hosts:"
        for ((h = 1; h <= hosts; h++)); do
            echo "  host$h: {uri: 'test://$dir/host$h.xml', faultDomain: fd-$(( (h - 1) % 3 + 1 ))}"
        done
        echo "instances:"
        for ((h = 1; h <= hosts; h++)); do
            for ((d = 1; d <= n; d++)); do
                name=$(printf 'fleet-%d-%04d' "$h" "$d")
                echo "  $name: {host: host$h, state: stopped, config: {memoryMiB: 64, tags: {n: '$d'}}}"
            done
        done
    } >"$file"
}
