using System.Runtime.InteropServices;
using System.Text;
using SmbLayer.Cli;

// SMB_ZERO_COPY=off: no splice/sendfile between socket and local file (for measuring, or a file system that misbehaves).
if (Environment.GetEnvironmentVariable("SMB_ZERO_COPY") is "off" or "0")
{
    AppContext.SetSwitch(SmbLayer.SmbClientOptions.DisableZeroCopySwitch, true);
}

SmbLayer.Cli.BackgroundMount.Detach(); // smb mount --background's child: a session of its own

using var cancellation = new CancellationTokenSource();
// SIGINT through PosixSignalRegistration rather than Console.CancelKeyPress: the latter first sets
// up the terminal (terminfo, termios, SIGCHLD and SIGCONT handling), about 6 % of the CPU of a
// short command, which a tool whose output is usually redirected does not need.
using var interrupt = PosixSignalRegistration.Create(PosixSignal.SIGINT, context =>
{
    // First Ctrl+C cancels the running operation; a second one ends the process at once.
    if (!cancellation.IsCancellationRequested)
    {
        context.Cancel = true;
        cancellation.Cancel();
    }
});

// SIGTERM while a mount is served unmounts it and ends with exit 0, as SIGINT does; otherwise it ends the process.
using var terminate = PosixSignalRegistration.Create(PosixSignal.SIGTERM, context =>
{
    if (CliCommands.MountRunning && !cancellation.IsCancellationRequested)
    {
        context.Cancel = true;
        cancellation.Cancel();
    }
});

// stdout and stderr as UTF-8 writers of our own rather than Console.Out and Console.Error, which
// look up the terminal's charset first (another ~5 % of a short command). Names on SMB shares are
// Unicode, so UTF-8 is what they need anyway. AutoFlush keeps the order of text and of bytes
// written to the stream directly (cat, get -).
var utf8 = new UTF8Encoding(encoderShouldEmitUTF8Identifier: false);
await using var stdoutStream = Console.OpenStandardOutput();
await using var stdout = new StreamWriter(stdoutStream, utf8, bufferSize: 4096, leaveOpen: true) { AutoFlush = true };
await using var stderr = new StreamWriter(Console.OpenStandardError(), utf8, bufferSize: 1024) { AutoFlush = true };
return await CliApp.RunAsync(args, stdout, stderr, stdoutStream, SystemCliEnvironment.Instance, cancellation.Token);
