import Foundation
import Placement
import YAMLDecoding

/// The largest placement file read (the YAML layer checks the same limit on bytes).
let maxInputBytes = 10 * 1024 * 1024

/// A placement loaded for a command.
struct LoadedPlacement {
    var spec: PlacementSpec
    var fileCount: Int
    var warnings: [Diagnostic]
}

/// Reads `-f` paths (files, directories, `-`) into sources, in order; a directory gives its
/// `*.yaml`, `*.yml` and `*.json` files sorted by name.
func readSources(_ paths: [String]) throws -> [PlacementSource] {
    var sources: [PlacementSource] = []
    let fm = FileManager.default
    for path in paths {
        if path == "-" {
            let data = FileHandle.standardInput.readDataToEndOfFile()
            sources.append(PlacementSource(name: "<stdin>", bytes: Array(data)))
            continue
        }
        var isDirectory: ObjCBool = false
        guard fm.fileExists(atPath: path, isDirectory: &isDirectory) else {
            throw CLIError(message: "\(path): no such file or directory")
        }
        if isDirectory.boolValue {
            let names: [String]
            do { names = try fm.contentsOfDirectory(atPath: path) } catch {
                throw CLIError(message: "\(path): cannot list the directory: \(error.localizedDescription)")
            }
            let files = names.filter { n in [".yaml", ".yml", ".json"].contains { n.hasSuffix($0) } && !n.hasPrefix(".") }.sorted()
            if files.isEmpty { throw CLIError(message: "\(path): no *.yaml, *.yml or *.json file in this directory") }
            let base = path.hasSuffix("/") ? path : path + "/"
            for f in files { sources.append(try readFile(base + f)) }
        } else {
            sources.append(try readFile(path))
        }
    }
    return sources
}

private func readFile(_ path: String) throws -> PlacementSource {
    guard let handle = FileHandle(forReadingAtPath: path) else {
        throw CLIError(message: "\(path): cannot open the file (\(String(cString: strerror(errno))))")
    }
    defer { try? handle.close() }
    // Read one byte more than the limit: the YAML layer then reports the size as an error
    // with the file's name, without this process reading a huge file whole.
    let data = (try? handle.read(upToCount: maxInputBytes + 1)) ?? Data()
    return PlacementSource(name: path, bytes: Array(data))
}

/// Loads and validates the placement; prints every diagnostic with its source line and a
/// caret; throws `ReportedFailure` (exit 1) when there is an error.
func loadPlacement(_ paths: [String], context: CommandContext) throws -> LoadedPlacement {
    let sources = try readSources(paths)
    let result = loadPlacement(sources, options: context.loadOptions)
    if !result.diagnostics.isEmpty {
        context.console.err(renderDiagnostics(result.diagnostics, sources: sources, console: context.console))
    }
    guard let spec = result.spec else {
        let errors = result.errorCount
        let warnings = result.warningCount
        throw ReportedFailure(summary: "\(errors) error\(errors == 1 ? "" : "s")" + (warnings > 0 ? ", \(warnings) warning\(warnings == 1 ? "" : "s")" : "") + "; nothing was changed")
    }
    return LoadedPlacement(spec: spec, fileCount: sources.count, warnings: result.diagnostics)
}

/// Diagnostics as the user sees them: the message, the source line, a caret under the column.
func renderDiagnostics(_ diagnostics: [Diagnostic], sources: [PlacementSource], console: Console) -> String {
    var linesByFile: [String: [Substring]] = [:]
    for s in sources {
        let text = String(decoding: s.bytes, as: UTF8.self)
        linesByFile[s.name] = text.split(separator: "\n", omittingEmptySubsequences: false)
    }
    var out: [String] = []
    for d in diagnostics {
        let label = d.severity == .error ? console.style("error", .red) : console.style("warning", .yellow)
        let place = d.path.isEmpty ? "" : "\(d.path): "
        out.append(console.style("\(d.file):\(d.line):\(d.column):", .bold) + " \(label): \(place)\(d.message)")
        // Only short lines are shown, and their length is known without reading them: a
        // diagnostic costs the same however long its line is.
        if d.line >= 1, let lines = linesByFile[d.file], d.line <= lines.count, lines[d.line - 1].utf8.count <= 300 {
            let line = String(lines[d.line - 1]).replacingOccurrences(of: "\r", with: "")
            out.append("  " + line)
            // The column counts characters; tabs are kept so the caret lines up.
            let prefix = line.prefix(max(0, d.column - 1)).map { $0 == "\t" ? "\t" : " " }.joined()
            out.append("  " + prefix + console.style("^", .green))
        }
    }
    return out.joined(separator: "\n")
}

/// A failure whose details were already printed: only the summary remains to say.
struct ReportedFailure: Error {
    var summary: String
    var exitCode: ExitCode = .failure
}
