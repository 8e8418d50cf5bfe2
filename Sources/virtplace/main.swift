import VirtPlaceCLI

await VirtPlace.main(arguments: Array(CommandLine.arguments.dropFirst()))
