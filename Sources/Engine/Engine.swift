import Placement
import Libvirt
