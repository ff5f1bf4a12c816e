using Microsoft.Extensions.Logging;

namespace SmbLayer.Cli;

/// <summary>The whole <c>smb</c> program behind a method, so it can run in tests without a process.</summary>
internal static class CliApp
{
    public static Task<int> RunAsync(string[] args, TextWriter stdout, TextWriter stderr, Stream stdoutStream, ICliEnvironment environment, CancellationToken cancellationToken) =>
        RunAsync(args, stdout, stderr, stdoutStream, environment, SmbClientFileSystem.Create, cancellationToken);

    /// <param name="connect">Makes the file system for the resolved options (tests pass a fake).</param>
    internal static async Task<int> RunAsync(
        string[] args,
        TextWriter stdout,
        TextWriter stderr,
        Stream stdoutStream,
        ICliEnvironment environment,
        Func<SmbClientOptions, ISmbFileSystem> connect,
        CancellationToken cancellationToken)
    {
        var verbose = false;
        try
        {
            var options = CommandLineParser.Parse(args);
            verbose = options.Verbosity > 0;
            if (options.ShowHelp)
            {
                await stdout.WriteAsync(HelpText.Usage);
                return ExitCodes.Success;
            }
            if (options.ShowVersion)
            {
                await stdout.WriteLineAsync(HelpText.Version);
                return ExitCodes.Success;
            }

            // Check every argument before asking for a password or touching the network.
            var commands = new CliCommands(stdout, stderr, stdoutStream, environment, options.Verbosity == 0, cancellationToken);
            var (url, run) = commands.Plan(options.Command!, options.Arguments, options.Recursive, options.Json, options.ReadOnly);

            var credentials = CredentialResolver.Resolve(
                url,
                options.User is null ? null : UserSpec.Parse(options.User),
                options.AuthFile is null ? null : AuthFile.Load(options.AuthFile),
                options.NoPassword,
                environment,
                cancellationToken,
                kerberos: options.Kerberos != KerberosPolicy.Off);

            if (options.Background)
            {
                if (options.Command != "mount")
                {
                    throw new UsageException($"--background applies to mount, not to '{options.Command}'");
                }
                return await BackgroundMount.StartAsync(args, credentials, stderr, cancellationToken);
            }

            using var loggerFactory = verbose
                ? new StderrLoggerFactory(stderr, options.Verbosity > 1 ? LogLevel.Trace : LogLevel.Debug)
                : null;
            var clientOptions = BuildClientOptions(options, credentials, loggerFactory);
            var fileSystem = connect(clientOptions);
            try
            {
                await run(fileSystem);
            }
            catch
            {
                // Report the operation's error, not a secondary one from closing the connection.
                await DisposeQuietlyAsync(fileSystem);
                throw;
            }
            await fileSystem.DisposeAsync();
            return ExitCodes.Success;
        }
        catch (Exception ex)
        {
            var cancelled = cancellationToken.IsCancellationRequested;
            await stderr.WriteLineAsync("smb: " + ExitCodes.Describe(ex, cancelled));
            var code = ExitCodes.FromException(ex, cancelled);
            if (verbose && code is not (ExitCodes.Usage or ExitCodes.Cancelled))
            {
                await stderr.WriteLineAsync(ex.ToString());
            }
            return code;
        }
    }

    private static async Task DisposeQuietlyAsync(IAsyncDisposable disposable)
    {
        try
        {
            await disposable.DisposeAsync();
        }
        catch (Exception)
        {
            // Already failing; the first error is the one to show.
        }
    }

    internal static SmbClientOptions BuildClientOptions(CliOptions options, SmbCredentials credentials, ILoggerFactory? loggerFactory)
    {
        var clientOptions = new SmbClientOptions
        {
            Credentials = credentials,
            RequireSigning = options.RequireSigning,
            RequireEncryption = options.RequireEncryption,
            Kerberos = options.Kerberos,
            ServerAddress = options.ServerAddress,
            DomainController = options.DomainController,
            LoggerFactory = loggerFactory,
        };
        // What the command line leaves out keeps the library's default.
        if (options.FailureMode is { } mode)
        {
            clientOptions.FailureMode = mode;
        }
        if (options.SoftTimeout is { } soft)
        {
            clientOptions.SoftTimeout = soft;
        }
        if (options.MinDialect is { } min)
        {
            clientOptions.MinDialect = min;
        }
        if (options.MaxDialect is { } max)
        {
            clientOptions.MaxDialect = max;
        }
        return clientOptions;
    }
}
