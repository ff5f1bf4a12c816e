using System.Net.Sockets;

namespace SmbLayer.Cli;

/// <summary>
/// The process exit codes of <c>smb</c>, and the one place that maps an exception to one.
/// Scripts rely on these numbers; do not renumber.
/// </summary>
internal static class ExitCodes
{
    public const int Success = 0;
    public const int Error = 1;
    public const int Usage = 2;
    public const int Authentication = 3;
    public const int NotFound = 4;
    public const int Connection = 5;
    public const int AccessDenied = 6;
    public const int Protocol = 7;

    /// <summary>128 + SIGINT, what shells report for a command stopped by Ctrl+C.</summary>
    public const int Cancelled = 130;

    /// <summary>
    /// The exit code for an error. <paramref name="cancellationRequested"/> tells a user's Ctrl+C
    /// apart from a cancellation exception raised for another reason (which is a plain error).
    /// </summary>
    public static int FromException(Exception exception, bool cancellationRequested = false) => exception switch
    {
        UsageException => Usage,
        SmbAuthenticationException => Authentication,
        SmbNotFoundException => NotFound,
        SmbAccessDeniedException => AccessDenied,
        SmbConnectionException or SmbTimeoutException or SocketException => Connection,
        SmbProtocolException or SmbSecurityException => Protocol,
        OperationCanceledException when cancellationRequested => Cancelled,
        // Local files named on the command line (put's source, get's target directory).
        FileNotFoundException or DirectoryNotFoundException => NotFound,
        UnauthorizedAccessException => AccessDenied,
        // NetworkStream reports socket failures as IOException wrapping the SocketException.
        IOException { InnerException: SocketException } => Connection,
        AggregateException { InnerExceptions.Count: 1 } aggregate => FromException(aggregate.InnerExceptions[0], cancellationRequested),
        _ => Error,
    };

    /// <summary>The one-line message printed after "smb: " for an error.</summary>
    public static string Describe(Exception exception, bool cancellationRequested = false)
    {
        var message = exception switch
        {
            UsageException usage => usage.Message + " (see 'smb --help')",
            OperationCanceledException when cancellationRequested => "cancelled",
            AggregateException { InnerExceptions.Count: 1 } aggregate => Describe(aggregate.InnerExceptions[0], cancellationRequested),
            _ => exception.Message,
        };
        return OneLine(message);
    }

    private static string OneLine(string text) =>
        string.Join(' ', text.Split(['\r', '\n'], StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries));
}

/// <summary>Bad command line: unknown option, missing argument, malformed URL or dialect. Exit code 2.</summary>
internal sealed class UsageException(string message) : Exception(message);
