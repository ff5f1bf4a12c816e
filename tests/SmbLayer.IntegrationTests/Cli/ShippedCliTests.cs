namespace SmbLayer.IntegrationTests.Cli;

/// <summary>
/// scripts/test.sh publishes the CLI as it ships and runs every CLI test against it (<see cref="SmbProgram"/>).
/// These check that this happened and that the published form is what BENCHMARKS.md measured.
/// </summary>
public sealed class ShippedCliTests
{
    [ShippedCliFact]
    public void Published_IsSelfContainedTrimmedComposite()
    {
        var published = SmbProgram.Published;
        Assert.True(published is not null, "SMB_CLI is not set: run the suite through scripts/test.sh, which publishes the CLI and names it there");
        var folder = Path.GetDirectoryName(published)!;
        // Self-contained: the runtime is in the folder.
        Assert.True(File.Exists(Path.Combine(folder, "libcoreclr.so")), "no libcoreclr.so beside the published smb");
        // One composite ReadyToRun image of the framework and our code.
        Assert.True(File.Exists(Path.Combine(folder, "smb.r2r.dll")), "no composite image smb.r2r.dll beside the published smb");
        // Trimmed: framework parts the tool never uses are gone (System.Private.Xml alone is ~8 MB).
        Assert.False(File.Exists(Path.Combine(folder, "System.Private.Xml.dll")), "System.Private.Xml.dll was published: the CLI is not trimmed");
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
