using System.Globalization;
using Microsoft.Extensions.Logging;

namespace SmbLayer.Cli;

/// <summary>A minimal <see cref="ILoggerFactory"/> for <c>-v</c>: one line per message on stderr.</summary>
internal sealed class StderrLoggerFactory(TextWriter writer, LogLevel minimumLevel) : ILoggerFactory
{
    private readonly Lock _writeLock = new();

    public ILogger CreateLogger(string categoryName) => new StderrLogger(this, categoryName);

    /// <summary>Providers are not supported; this factory writes to stderr only.</summary>
    public void AddProvider(ILoggerProvider provider)
    {
    }

    public void Dispose()
    {
    }

    private bool IsEnabled(LogLevel level) => level != LogLevel.None && level >= minimumLevel;

    private void Write(LogLevel level, string category, string message, Exception? exception)
    {
        var line = string.Create(CultureInfo.InvariantCulture, $"{DateTime.Now:HH:mm:ss.fff} {ShortName(level)} {category}: {message}");
        lock (_writeLock)
        {
            writer.WriteLine(line);
            if (exception is not null)
            {
                writer.WriteLine(exception.ToString());
            }
        }
    }

    private static string ShortName(LogLevel level) => level switch
    {
        LogLevel.Trace => "trce",
        LogLevel.Debug => "dbug",
        LogLevel.Information => "info",
        LogLevel.Warning => "warn",
        LogLevel.Error => "fail",
        LogLevel.Critical => "crit",
        _ => "none",
    };

    private sealed class StderrLogger(StderrLoggerFactory factory, string category) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => factory.IsEnabled(logLevel);

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            if (factory.IsEnabled(logLevel))
            {
                factory.Write(logLevel, category, formatter(state, exception), exception);
            }
        }
    }
}
