using System.Text;

namespace SmbLayer.Cli;

/// <summary>What the CLI needs from the process besides stdout/stderr, so tests can fake it.</summary>
internal interface ICliEnvironment
{
    string? GetEnvironmentVariable(string name);

    /// <summary>False when stdin is a terminal (then a password may be prompted for).</summary>
    bool IsInputRedirected { get; }

    bool IsOutputRedirected { get; }

    /// <summary>False when stderr is a terminal (then get/put draw a progress bar).</summary>
    bool IsErrorRedirected { get; }

    Stream OpenStandardInput();

    /// <summary>Prompts on the terminal and reads a line without echo; null at end of input.</summary>
    string? ReadPassword(string prompt, CancellationToken cancellationToken);
}

/// <summary>The real process: environment variables and <see cref="Console"/>.</summary>
internal sealed class SystemCliEnvironment : ICliEnvironment
{
    public static SystemCliEnvironment Instance { get; } = new();

    private SystemCliEnvironment()
    {
    }

    public string? GetEnvironmentVariable(string name) => Environment.GetEnvironmentVariable(name);
    public bool IsInputRedirected => Console.IsInputRedirected;
    public bool IsOutputRedirected => Console.IsOutputRedirected;
    public bool IsErrorRedirected => Console.IsErrorRedirected;
    public Stream OpenStandardInput() => Console.OpenStandardInput();

    public string? ReadPassword(string prompt, CancellationToken cancellationToken)
    {
        Console.Error.Write(prompt);
        var password = new StringBuilder();
        try
        {
            while (true)
            {
                // Console.ReadKey cannot be cancelled; wait for a key so Ctrl+C (which cancels
                // the token from the SIGINT handler in Program.cs) is noticed promptly.
                while (!Console.KeyAvailable)
                {
                    cancellationToken.ThrowIfCancellationRequested();
                    Thread.Sleep(20);
                }
                var key = Console.ReadKey(intercept: true);
                switch (key.Key)
                {
                    case ConsoleKey.Enter:
                        return password.ToString();
                    case ConsoleKey.Backspace:
                        if (password.Length > 0)
                        {
                            password.Length--;
                        }
                        break;
                    default:
                        if (key.Modifiers.HasFlag(ConsoleModifiers.Control) && key.Key == ConsoleKey.D)
                        {
                            return password.Length == 0 ? null : password.ToString();
                        }
                        if (!char.IsControl(key.KeyChar))
                        {
                            password.Append(key.KeyChar);
                        }
                        break;
                }
            }
        }
        finally
        {
            Console.Error.WriteLine();
        }
    }
}
