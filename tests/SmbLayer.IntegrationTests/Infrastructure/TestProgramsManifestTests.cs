using System.Text.RegularExpressions;

namespace SmbLayer.IntegrationTests;

/// <summary>
/// A fresh machine gets only what scripts/test.sh installs, from scripts/test-programs.txt. These fail, naming
/// the program, when a test starts one the manifest does not list, or the manifest names one with no package.
/// </summary>
public sealed partial class TestProgramsManifestTests
{
    [Fact]
    public void TestSources_StartOnlyListedPrograms()
    {
        var tests = Path.Combine(SambaServer.RepositoryRoot, "tests");
        var unlisted = new SortedSet<string>(StringComparer.Ordinal);
        foreach (var file in Directory.EnumerateFiles(tests, "*.cs", SearchOption.AllDirectories))
        {
            if (file.Contains("/bin/", StringComparison.Ordinal) || file.Contains("/obj/", StringComparison.Ordinal)
                || Path.GetFileName(file) == "TestProgramsManifestTests.cs") // its own examples
            {
                continue;
            }
            foreach (Match m in StartedProgram().Matches(File.ReadAllText(file)))
            {
                var program = m.Groups["name"].Value;
                if (!TestPrograms.Manifest.ContainsKey(program))
                {
                    unlisted.Add($"{program} ({Path.GetRelativePath(tests, file)})");
                }
            }
        }

        Assert.True(unlisted.Count == 0, "tests start programs scripts/test-programs.txt does not list: " + string.Join(", ", unlisted));
    }

    [Fact]
    public void Manifest_NamesAPackageForEachProgram_AndTheProgramsTheSuiteNeeds()
    {
        Assert.All(TestPrograms.Manifest, entry => Assert.False(string.IsNullOrWhiteSpace(entry.Value), entry.Key));
        foreach (var program in new[] { "smbd", "smbclient", "tshark", "iptables", "ss", "dotnet" })
        {
            Assert.True(TestPrograms.Manifest.ContainsKey(program), $"{program} is not in scripts/test-programs.txt");
        }
    }

    [Fact]
    public void Require_UnlistedProgram_FailsNamingIt()
    {
        var error = Assert.Throws<InvalidOperationException>(() => TestPrograms.Require("no-such-program-xyz"));

        Assert.Contains("'no-such-program-xyz'", error.Message, StringComparison.Ordinal);
    }

    /// <summary>A program started by name: ProcessRunner.RunAsync("x", ...), new ProcessStartInfo("x"), Process.Start("x", ...), FindTool("x"), Require("x").</summary>
    [GeneratedRegex(@"(?:ProcessRunner\.RunAsync|ProcessStartInfo|Process\.Start|FindTool|TestPrograms\.Require)\(\s*""(?<name>[A-Za-z0-9._+-]+)""")]
    private static partial Regex StartedProgram();
}
