using System.Diagnostics;

namespace SmbLayer.IntegrationTests.Faults;

/// <summary>
/// Ctrl+C on the real `smb` process (the CLI handles SIGINT itself, without Console.CancelKeyPress):
/// the first one cancels the command, which then ends with exit code 130 and one line on stderr;
/// a second one ends the process at once. The command is a hard-mode `get` stalled by a black-holed
/// proxy, which on its own would wait for ever.
/// </summary>
[Collection("samba-faults")]
public sealed class CliSignalTests(FaultsSambaFixture fixture) : FaultTestBase(fixture)
{
    private const int Size = 64 * 1024 * 1024;

    /// <summary>Starts `smb --hard get` through a proxy and black-holes the proxy once data has landed; returns the process, the proxy and the local directory.</summary>
    private async Task<(Process Process, FaultProxy Proxy, string Directory)> StartStalledGetAsync()
    {
        var name = NewFile("sigint", Size, out _);
        var proxy = FaultProxy.Start(Server.Port);
        var directory = Directory.CreateTempSubdirectory("smb-sigint-").FullName;
        var local = Path.Combine(directory, "copy.bin");
        var psi = WithDefaultSigint(SmbProgram.StartInfo(["--hard", "get", $"smb://{Server.UserName}@127.0.0.1:{proxy.Port}/share/{name}", local]));
        psi.Environment["SMB_PASSWORD"] = Server.Password;
        // Slow enough that the download is still running when the proxy goes silent.
        proxy.BytesPerSecond = 8 * 1024 * 1024;
        var process = Process.Start(psi)!;
        var sw = Stopwatch.StartNew();
        // `get` downloads into a hidden partial file beside the target and renames it at the end.
        while (!Directory.EnumerateFiles(directory).Any(f => new FileInfo(f).Length > 0) && !process.HasExited && sw.Elapsed < TimeSpan.FromSeconds(30))
        {
            await Task.Delay(50);
        }
        if (process.HasExited)
        {
            Assert.Fail($"smb ended after {sw.Elapsed.TotalSeconds:0.0} s, before the test could interrupt it: {await process.StandardError.ReadToEndAsync()}");
        }
        Assert.True(Directory.EnumerateFiles(directory).Any(), "the download never started");
        proxy.BlackHole();
        return (process, proxy, directory);
    }

    /// <summary>
    /// Starts the program through `env --default-signal=INT`: a suite launched in the background of a
    /// non-interactive shell (`cmd &`) inherits SIGINT ignored, every process it starts would too, and the
    /// runtime then never delivers the signal these tests send (both fail on time, not on behaviour).
    /// </summary>
    private static ProcessStartInfo WithDefaultSigint(ProcessStartInfo psi)
    {
        psi.ArgumentList.Insert(0, psi.FileName);
        psi.ArgumentList.Insert(0, "--default-signal=INT");
        psi.FileName = TestPrograms.Require("env");
        return psi;
    }

    private static void Sigint(Process process)
    {
        Assert.False(process.HasExited, $"smb ended (exit code {(process.HasExited ? process.ExitCode : 0)}) before the SIGINT");
        Assert.True(Kill(process.Id, 2) == 0, $"kill(SIGINT) failed: errno {System.Runtime.InteropServices.Marshal.GetLastPInvokeError()}");
    }

    /// <summary>True when the process ends within <paramref name="limit"/>; otherwise it is killed (so no test leaves it behind) and false.</summary>
    private static async Task<bool> ExitsWithinAsync(Process process, TimeSpan limit)
    {
        using var cts = new CancellationTokenSource(limit);
        try
        {
            await process.WaitForExitAsync(cts.Token);
            return true;
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            return false;
        }
    }

    [SambaFact]
    public async Task Sigint_CancelsAStalledHardGet_Exit130WithOneLine()
    {
        var (process, proxy, directory) = await StartStalledGetAsync();
        await using var _ = proxy;
        using var __ = process;
        try
        {
            var stderr = process.StandardError.ReadToEndAsync();
            await Task.Delay(500);
            Sigint(process);
            // Hard mode waits for the server for ever, but a cancelled command must not: neither for
            // the reads in flight (it used to, in the stream's close) nor for the reconnect.
            var exited = await ExitsWithinAsync(process, TimeSpan.FromSeconds(15));
            Assert.True(exited, "smb did not end within 15 s of SIGINT");
            Assert.Equal(130, process.ExitCode);
            var lines = (await stderr).Trim().Split('\n');
            Assert.Single(lines);
            Assert.StartsWith("smb: ", lines[0], StringComparison.Ordinal);
            Assert.Contains("cancel", lines[0], StringComparison.OrdinalIgnoreCase);
            Assert.Empty(Directory.EnumerateFiles(directory));
        }
        finally
        {
            Directory.Delete(directory, recursive: true);
        }
    }

    [SambaFact]
    public async Task SecondSigint_EndsTheProcessAtOnce()
    {
        var (process, proxy, directory) = await StartStalledGetAsync();
        await using var _ = proxy;
        using var __ = process;
        try
        {
            var drain = process.StandardError.ReadToEndAsync();
            await Task.Delay(500);
            Sigint(process);
            await Task.Delay(300);
            if (!process.HasExited)
            {
                Sigint(process);
            }
            var exited = await ExitsWithinAsync(process, TimeSpan.FromSeconds(5));
            Assert.True(exited, "smb was still running 5 s after the second SIGINT");
            Assert.Equal(130, process.ExitCode);
            await drain;
        }
        finally
        {
            Directory.Delete(directory, recursive: true);
        }
    }
}
