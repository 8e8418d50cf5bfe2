import Engine
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
/// `*.yaml`, `*.yml` and `*.json` files sorted by name. Every input is bounded: regular files
/// only (a FIFO, device or socket is refused before it is read), at most 10 MiB each, and
/// standard input refused when it is closed, a terminal, or silent for 5 seconds
/// (`FileInput`, docs/security.md).
/// - Throws: `CLIError` naming the input and the reason.
func readSources(_ paths: [String]) throws -> [PlacementSource] {
    var sources: [PlacementSource] = []
    let fm = FileManager.default
    for path in paths {
        if path == "-" {
            sources.append(PlacementSource(name: "<stdin>", bytes: try readStandardInput()))
            continue
        }
        var isDirectory: ObjCBool = false
        guard fm.fileExists(atPath: path, isDirectory: &isDirectory) else {
            throw CLIError(message: "\(Escape.terminal(path)): no such file or directory")
        }
        if isDirectory.boolValue {
            let names: [String]
            do { names = try fm.contentsOfDirectory(atPath: path) } catch {
                throw CLIError(message: "\(Escape.terminal(path)): cannot list the directory: \(error.localizedDescription)")
            }
            let files = names.filter { n in [".yaml", ".yml", ".json"].contains { n.hasSuffix($0) } && !n.hasPrefix(".") }.sorted()
            if files.isEmpty { throw CLIError(message: "\(Escape.terminal(path)): no *.yaml, *.yml or *.json file in this directory") }
            let base = path.hasSuffix("/") ? path : path + "/"
            for f in files { sources.append(try readFile(base + f)) }
        } else {
            sources.append(try readFile(path))
        }
    }
    return sources
}

private func readFile(_ path: String) throws -> PlacementSource {
    do {
        return PlacementSource(name: path, bytes: try FileInput.read(atPath: path, limit: maxInputBytes))
    } catch {
        throw CLIError(message: "\(Escape.terminal(path)): \(Escape.terminal(error.reason))")
    }
}

/// Standard input (`-f -`), bounded in size and time.
private func readStandardInput() throws -> [UInt8] {
    if Console.standardInputClosed {
        throw CLIError(message: "-f -: standard input is closed: nothing to read")
    }
    if isatty(STDIN_FILENO) == 1 {
        throw CLIError(message: "-f -: standard input is a terminal: pipe the placement in ('cat FILE | virtplace ... -f -') or give the file")
    }
    do {
        return try FileInput.readStream(descriptor: STDIN_FILENO, limit: maxInputBytes)
    } catch {
        throw CLIError(message: "-f - (standard input): \(Escape.terminal(error.reason))")
    }
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
/// The file name, path, message and source line are escaped for the terminal
/// (`Escape.terminal`): the caret is placed by the escaped text before the column, so it
/// stays under the character it points at.
func renderDiagnostics(_ diagnostics: [Diagnostic], sources: [PlacementSource], console: Console) -> String {
    let t = Escape.terminal
    var linesByFile: [String: [Substring]] = [:]
    for s in sources {
        let text = String(decoding: s.bytes, as: UTF8.self)
        linesByFile[s.name] = text.split(separator: "\n", omittingEmptySubsequences: false)
    }
    var out: [String] = []
    for d in diagnostics {
        let label = d.severity == .error ? console.style("error", .red) : console.style("warning", .yellow)
        let place = d.path.isEmpty ? "" : "\(t(d.path)): "
        out.append(console.style("\(t(d.file)):\(d.line):\(d.column):", .bold) + " \(label): \(place)\(t(d.message))")
        // The length is checked before the line is copied: copying a long line once per
        // diagnostic made a one-line file with many errors quadratic.
        if d.line >= 1, let lines = linesByFile[d.file], d.line <= lines.count, lines[d.line - 1].utf8.count <= 301 {
            var line = Substring(lines[d.line - 1])
            if line.hasSuffix("\r") { line = line.dropLast() }  // a CRLF file
            if line.utf8.count <= 300 {
                out.append("  " + t(String(line)))
                // The column counts Unicode scalars: the caret goes after the escaped text of
                // the scalars before it (a tab shown as `\t` counts two).
                let before = String(String.UnicodeScalarView(line.unicodeScalars.prefix(max(0, d.column - 1))))
                out.append("  " + String(repeating: " ", count: t(before).count) + console.style("^", .green))
            }
        }
    }
    return out.joined(separator: "\n")
}
