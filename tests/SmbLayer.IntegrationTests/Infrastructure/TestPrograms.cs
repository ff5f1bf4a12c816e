using System.Text.RegularExpressions;

namespace SmbLayer.IntegrationTests;

/// <summary>
/// The programs the suite may start: scripts/test-programs.txt, whose packages scripts/test.sh installs on a
/// fresh machine. Every place that starts a system program by name goes through <see cref="Require"/>, so a
/// test that starts an unlisted program fails at once, naming it, instead of passing only on machines that
/// happen to have it. <see cref="TestProgramsManifestTests"/> also scans the sources for programs started any
/// other way.
/// </summary>
internal static partial class TestPrograms
{
    public static string ManifestPath => Path.Combine(SambaServer.RepositoryRoot, "scripts", "test-programs.txt");

    /// <summary>Program name to Debian package ("-" for a precondition such as the .NET SDK).</summary>
    public static IReadOnlyDictionary<string, string> Manifest { get; } = Load();

    /// <summary>Returns <paramref name="program"/> if the manifest lists it (or it is a file the suite built or made itself); throws naming it otherwise.</summary>
    public static string Require(string program)
    {
        if (Path.IsPathRooted(program) && !IsSystemPath(program))
        {
            return program; // the published smb, an installed dotnet tool: made by the run itself
        }
        var name = Path.GetFileName(program);
        if (!Manifest.ContainsKey(name))
        {
            throw new InvalidOperationException(
                $"A test starts '{name}', which scripts/test-programs.txt does not list: scripts/test.sh would not install it on a fresh machine. " +
                "Add the program and its Debian package there.");
        }
        return program;
    }

    private static bool IsSystemPath(string path) =>
        path.StartsWith("/usr/", StringComparison.Ordinal) || path.StartsWith("/bin/", StringComparison.Ordinal) || path.StartsWith("/sbin/", StringComparison.Ordinal);

    private static Dictionary<string, string> Load()
    {
        var manifest = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var line in File.ReadLines(ManifestPath))
        {
            var text = line.Trim();
            if (text.Length == 0 || text.StartsWith('#'))
            {
                continue;
            }
            var fields = Whitespace().Split(text);
            manifest[fields[0]] = fields.Length > 1 ? fields[1] : "-";
        }
        return manifest;
    }

    [GeneratedRegex(@"\s+")]
    private static partial Regex Whitespace();
}
