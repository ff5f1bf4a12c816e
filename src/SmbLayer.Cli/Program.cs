using SmbLayer.Cli;

using var cancellation = new CancellationTokenSource();
Console.CancelKeyPress += (_, e) =>
{
    // First Ctrl+C cancels the running operation; a second one ends the process at once.
    if (!cancellation.IsCancellationRequested)
    {
        e.Cancel = true;
        cancellation.Cancel();
    }
};

await using var stdoutStream = Console.OpenStandardOutput();
return await CliApp.RunAsync(args, Console.Out, Console.Error, stdoutStream, SystemCliEnvironment.Instance, cancellation.Token);
