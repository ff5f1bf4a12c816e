using System.Collections.Concurrent;
using System.Diagnostics;
using System.Text;

namespace SmbLayer.IntegrationTests;

/// <summary>Runs helper programs (the launcher script, smbclient, smbstatus) with a timeout.</summary>
internal static class ProcessRunner
{
    private static readonly ConcurrentDictionary<int, Process> Running = new();

    public static async Task<(int ExitCode, string StdOut, string StdErr)> RunAsync(
        string fileName,
        IEnumerable<string> arguments,
        TimeSpan timeout,
        IReadOnlyDictionary<string, string>? environment = null,
        string? standardInput = null,
        CancellationToken ct = default)
    {
        var psi = new ProcessStartInfo(TestPrograms.Require(fileName))
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
            UseShellExecute = false,
        };
        foreach (var a in arguments)
        {
            psi.ArgumentList.Add(a);
        }
        if (environment is not null)
        {
            foreach (var (k, v) in environment)
            {
                psi.Environment[k] = v;
            }
        }

        using var process = new Process { StartInfo = psi };
        var stdout = new StringBuilder();
        var stderr = new StringBuilder();
        process.OutputDataReceived += (_, e) => { if (e.Data is not null) { lock (stdout) { stdout.AppendLine(e.Data); } } };
        process.ErrorDataReceived += (_, e) => { if (e.Data is not null) { lock (stderr) { stderr.AppendLine(e.Data); } } };
        process.Start();
        Running[process.Id] = process;
        try
        {
            process.BeginOutputReadLine();
            process.BeginErrorReadLine();
            if (standardInput is not null)
            {
                await process.StandardInput.WriteAsync(standardInput);
            }
            process.StandardInput.Close();

            using var timeoutCts = CancellationTokenSource.CreateLinkedTokenSource(ct);
            timeoutCts.CancelAfter(timeout);
            try
            {
                await process.WaitForExitAsync(timeoutCts.Token);
            }
            catch (OperationCanceledException)
            {
                KillQuietly(process);
                ct.ThrowIfCancellationRequested();
                throw new TimeoutException(
                    $"'{fileName} {string.Join(' ', psi.ArgumentList)}' did not finish within {timeout}. " +
                    $"stdout: {stdout} stderr: {stderr}");
            }
            process.WaitForExit(); // flush the asynchronous output readers
            lock (stdout)
            {
                lock (stderr)
                {
                    return (process.ExitCode, stdout.ToString(), stderr.ToString());
                }
            }
        }
        finally
        {
            Running.TryRemove(process.Id, out _);
        }
    }

    /// <summary>Kills every helper still running (used when the test process exits).</summary>
    public static void KillAll()
    {
        foreach (var p in Running.Values)
        {
            KillQuietly(p);
        }
    }

    internal static void Track(Process process) => Running[process.Id] = process;

    internal static void Untrack(Process process) => Running.TryRemove(process.Id, out _);

    internal static void KillQuietly(Process process)
    {
        try
        {
            if (!process.HasExited)
            {
                process.Kill(entireProcessTree: true);
            }
        }
        catch (InvalidOperationException)
        {
        }
        catch (System.ComponentModel.Win32Exception)
        {
        }
    }
}
