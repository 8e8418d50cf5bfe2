# Sourced by bench/plan/run.sh and bench/picture/run.sh (from the repository's root).
#
# placement_bench MODULE OUTPUT FILE...
#   builds the Placement module in release mode with SwiftPM, then compiles FILE... with -O,
#   whole-module, against Placement's objects and YAMLDecoding's (Placement depends on it;
#   libyaml for its C part) into bench/out/OUTPUT.
placement_bench() {
    module=$1 output=$2
    shift 2
    swift build -c release --target Placement >/dev/null
    bin=$(swift build -c release --show-bin-path)
    mkdir -p bench/out
    swiftc -O -wmo -module-name "$module" \
        -I "$bin/Modules" -I "$bin" -I Sources/CYAML \
        "$@" \
        "$bin"/Placement.build/*.o "$bin"/YAMLDecoding.build/*.o \
        -lyaml -o "bench/out/$output"
}
