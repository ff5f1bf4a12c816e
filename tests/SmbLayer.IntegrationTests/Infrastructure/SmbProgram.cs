using System.Diagnostics;

namespace SmbLayer.IntegrationTests;

/// <summary>
/// How the tests start the `smb` program. scripts/test.sh publishes the CLI the way it ships
/// (self-contained, trimmed, one composite ReadyToRun image) and names the executable in
/// <c>SMB_CLI</c>, so the CLI tests run what users run. Without <c>SMB_CLI</c> (a plain
/// <c>dotnet test</c>) they run the built smb.dll under <c>dotnet</c>.
/// </summary>
internal static class SmbProgram
{
    private static string BuiltDll => Path.Combine(AppContext.BaseDirectory, "smb.dll");

    /// <summary>The published executable named by <c>SMB_CLI</c>, or null; throws if it names a missing file.</summary>
    public static string? Published
    {
        get
        {
            var path = Environment.GetEnvironmentVariable("SMB_CLI");
            if (string.IsNullOrEmpty(path))
            {
                return null;
            }
            return File.Exists(path) ? path : throw new FileNotFoundException($"SMB_CLI names {path}, which does not exist", path);
        }
    }

    /// <summary>A start info for `smb ARGS`, output and error redirected, not through a shell.</summary>
    public static ProcessStartInfo StartInfo(IEnumerable<string> args)
    {
        var published = Published;
        var psi = new ProcessStartInfo(published ?? TestPrograms.Require("dotnet"))
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        if (published is null)
        {
            psi.ArgumentList.Add(BuiltDll);
        }
        foreach (var a in args)
        {
            psi.ArgumentList.Add(a);
        }
        return psi;
    }

    /// <summary>Runs `smb ARGS` with <c>SMB_PASSWORD</c> set and stdin closed; kills it after <paramref name="timeout"/> (default 120 s).</summary>
    public static Task<(int ExitCode, byte[] Stdout, string Stderr)> RunAsync(string? password, string user, IEnumerable<string> args, TimeSpan? timeout = null)
    {
        var psi = StartInfo(args);
        psi.Environment["SMB_PASSWORD"] = password;
        psi.Environment["USER"] = user;
        return RunAsync(psi, timeout);
    }

    /// <summary>
    /// Runs a prepared start of smb (possibly under a wrapper such as <c>unshare</c>) with stdin closed, its output kept
    /// whole; kills it, whole tree, after <paramref name="timeout"/> (default 120 s).
    /// </summary>
    public static async Task<(int ExitCode, byte[] Stdout, string Stderr)> RunAsync(ProcessStartInfo psi, TimeSpan? timeout = null)
    {
        psi.RedirectStandardInput = true;
        psi.RedirectStandardOutput = true;
        psi.RedirectStandardError = true;
        psi.UseShellExecute = false;
        var limit = timeout ?? TimeSpan.FromSeconds(120);
        using var process = Process.Start(psi)!;
        ProcessRunner.Track(process);
        try
        {
            process.StandardInput.Close();
            var stdout = new MemoryStream();
            var copy = process.StandardOutput.BaseStream.CopyToAsync(stdout);
            var stderr = process.StandardError.ReadToEndAsync();
            using var cts = new CancellationTokenSource(limit);
            try
            {
                await process.WaitForExitAsync(cts.Token);
            }
            catch (OperationCanceledException)
            {
                // What it said so far goes into the failure: a hang is diagnosed from its own log (-v).
                process.Kill(entireProcessTree: true);
                await process.WaitForExitAsync();
                var said = await stderr.WaitAsync(TimeSpan.FromSeconds(10));
                throw new TimeoutException($"smb did not finish within {limit.TotalSeconds} s; its stderr:\n{said}");
            }
            await copy;
            return (process.ExitCode, stdout.ToArray(), await stderr);
        }
        finally
        {
            ProcessRunner.Untrack(process);
        }
    }

    /// <summary>The program as the start of a bash command line (single-quoted paths).</summary>
    public static string ShellCommand => Published is { } published ? $"'{published}'" : $"dotnet '{BuiltDll}'";
}
