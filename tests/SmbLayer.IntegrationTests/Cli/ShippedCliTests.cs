namespace SmbLayer.IntegrationTests.Cli;

/// <summary>
/// scripts/test.sh publishes the CLI as it ships and runs every CLI test against it (<see cref="SmbProgram"/>).
/// These check that this happened, that the published form is the Native AOT binary BENCHMARKS.md measured,
/// and that the dotnet tool package scripts/test.sh packs installs and runs.
/// </summary>
public sealed class ShippedCliTests
{
    [ShippedCliFact]
    public void Published_IsOneNativeAotBinary()
    {
        var published = SmbProgram.Published;
        Assert.True(published is not null, "SMB_CLI is not set: run the suite through scripts/test.sh, which publishes the CLI and names it there");
        var folder = Path.GetDirectoryName(published)!;
        // An ELF executable, not an apphost that loads a runtime: no runtime, no IL beside it.
        var header = new byte[4];
        using (var file = File.OpenRead(published))
        {
            file.ReadExactly(header);
        }
        Assert.Equal([0x7F, (byte)'E', (byte)'L', (byte)'F'], header);
        Assert.False(File.Exists(Path.Combine(folder, "libcoreclr.so")), "libcoreclr.so beside the published smb: it is not Native AOT");
        Assert.False(File.Exists(Path.Combine(folder, "smb.dll")), "smb.dll beside the published smb: it is not Native AOT");
        Assert.False(File.Exists(Path.Combine(folder, "SmbLayer.dll")), "SmbLayer.dll beside the published smb: it is not Native AOT");
    }

    [ShippedCliFact]
    public async Task ToolPackage_InstallsAndRuns()
    {
        var packages = Environment.GetEnvironmentVariable("SMB_TOOL_PACKAGES");
        Assert.False(string.IsNullOrEmpty(packages), "SMB_TOOL_PACKAGES is not set: scripts/test.sh packs the dotnet tool and names the folder there");
        var tools = Directory.CreateTempSubdirectory("smb-tool-").FullName;
        try
        {
            var install = await ProcessRunner.RunAsync("dotnet", ["tool", "install", "--tool-path", tools, "--add-source", packages!, "SmbLayer.Cli"],
                TimeSpan.FromMinutes(3));
            Assert.True(install.ExitCode == 0, install.StdOut + install.StdErr);

            var run = await ProcessRunner.RunAsync(Path.Combine(tools, "smb"), ["--version"], TimeSpan.FromMinutes(1));

            Assert.True(run.ExitCode == 0, run.StdErr);
            Assert.StartsWith("smb ", run.StdOut, StringComparison.Ordinal);
        }
        finally
        {
            Directory.Delete(tools, recursive: true);
        }
    }

    [ShippedCliFact]
    public async Task Published_Help_ExitsZero()
    {
        var psi = SmbProgram.StartInfo(["--help"]);
        using var process = System.Diagnostics.Process.Start(psi)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        await process.WaitForExitAsync(cts.Token);
        Assert.True(process.ExitCode == 0, await stderr);
        Assert.Contains("smb://", await stdout, StringComparison.Ordinal);
    }
}

/// <summary>Runs when the suite has a published CLI (SMB_CLI) or on CI (CI=true), where its absence is a failure.</summary>
public sealed class ShippedCliFactAttribute : FactAttribute
{
    public ShippedCliFactAttribute()
    {
        if (!SambaAvailability.IsCi && string.IsNullOrEmpty(Environment.GetEnvironmentVariable("SMB_CLI")))
        {
            Skip = "SMB_CLI is not set (scripts/test.sh publishes the CLI and sets it); set CI=true to make this a failure.";
        }
    }
}
