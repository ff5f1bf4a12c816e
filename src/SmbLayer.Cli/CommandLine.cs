using SmbLayer.Protocol;

namespace SmbLayer.Cli;

/// <summary>One sub-command: its name, how many arguments it takes, and its line in the help.</summary>
internal sealed record CommandSpec(string Name, int MinArguments, int MaxArguments, string Synopsis, string Summary);

/// <summary>What the command line asked for, before any credential or network work.</summary>
internal sealed record CliOptions
{
    /// <summary>The sub-command name, or null when only --help / --version was asked for.</summary>
    public string? Command { get; init; }

    /// <summary>The sub-command's arguments (URLs, local files), in order.</summary>
    public IReadOnlyList<string> Arguments { get; init; } = [];

    /// <summary>The raw <c>-U</c> value: <c>[DOMAIN\]USER[%PASSWORD]</c>.</summary>
    public string? User { get; init; }

    /// <summary>The <c>-A</c> authentication file.</summary>
    public string? AuthFile { get; init; }

    public SmbDialect? MinDialect { get; init; }
    public SmbDialect? MaxDialect { get; init; }
    public bool RequireSigning { get; init; }

    /// <summary><c>--encrypt</c>: encrypt everything; fail if the server cannot.</summary>
    public bool RequireEncryption { get; init; }

    /// <summary><c>--hard</c> / <c>--soft SECONDS</c>: what calls do while the connection is down; null keeps the library default (<see cref="SmbClientOptions.FailureMode"/>, <see cref="SmbClientOptions.SoftTimeout"/>).</summary>
    public SmbFailureMode? FailureMode { get; init; }

    /// <summary>The <c>--soft</c> timeout.</summary>
    public TimeSpan? SoftTimeout { get; init; }

    /// <summary><c>-r</c>: get and put copy a whole directory tree.</summary>
    public bool Recursive { get; init; }

    /// <summary><c>--json</c>: ls and stat print one JSON document instead of text.</summary>
    public bool Json { get; init; }

    /// <summary><c>--read-only</c> (mount): refuse every change.</summary>
    public bool ReadOnly { get; init; }

    /// <summary><c>--background</c> (mount): return once the mount is up, a process of its own serving it.</summary>
    public bool Background { get; init; }

    /// <summary><c>-N</c>: never prompt; no password means an empty one, no user means an anonymous session.</summary>
    public bool NoPassword { get; init; }

    /// <summary><c>-I ADDRESS</c>: connect there instead of resolving the URL's host (smbclient's words).</summary>
    public System.Net.IPAddress? ServerAddress { get; init; }

    /// <summary><c>--dc HOST</c>: the domain controller asked about domain-based DFS namespaces (smb://domain/namespace).</summary>
    public string? DomainController { get; init; }

    /// <summary><c>--use-kerberos=required|desired|off</c>; <c>-k</c> is required (smbclient's words).</summary>
    public KerberosPolicy Kerberos { get; init; }

    /// <summary>Number of <c>-v</c>: 1 logs at Debug, 2 or more at Trace.</summary>
    public int Verbosity { get; init; }

    public bool ShowHelp { get; init; }
    public bool ShowVersion { get; init; }
}

/// <summary>
/// A small getopt-style parser: options may come before or after the command, short options
/// may be clustered (<c>-vv</c>) and take their value attached or as the next argument
/// (<c>-Ubob</c>, <c>-U bob</c>), long options take <c>--name value</c> or <c>--name=value</c>,
/// <c>--</c> ends the options and a lone <c>-</c> is an argument (stdin / stdout).
/// </summary>
internal static class CommandLineParser
{
    public static readonly CommandSpec[] Commands =
    [
        new("ls", 1, 1, "ls [--json] URL", "list a directory (type, size, modification time, name); the last component may be a pattern like *.txt; smb://host/ lists the shares"),
        new("get", 1, 2, "get [-r] URL [LOCALFILE|-]", "download a file; default local name is the remote name, '-' writes to stdout; -r downloads a directory tree (into LOCALFILE, or into a directory of the remote name inside it when it exists)"),
        new("put", 2, 2, "put [-r] LOCALFILE|- URL", "upload a file; a URL ending in '/' (or a share root) names a directory to put it in; -r uploads a directory tree"),
        new("cat", 1, 1, "cat URL", "write a remote file to stdout"),
        new("rm", 1, 1, "rm URL", "delete a file"),
        new("mkdir", 1, 1, "mkdir URL", "create a directory"),
        new("rmdir", 1, 1, "rmdir URL", "delete an empty directory"),
        new("mv", 2, 2, "mv URL NEWPATH", "rename or move inside the share; NEWPATH is a path from the share root or an smb:// URL on the same share; ending in '/' moves into that directory"),
        new("stat", 1, 1, "stat [--json] URL", "show every attribute of a file or directory"),
        new("mount", 2, 2, "mount [--hard|--soft S] [--read-only] [--background] URL MOUNTPOINT", "mount a share, or a directory in it, on MOUNTPOINT (FUSE, as root) and serve it until it is unmounted or smb gets SIGINT or SIGTERM (then it unmounts); exit 0. --background returns once it is mounted"),
    ];

    public static CliOptions Parse(IReadOnlyList<string> args)
    {
        var options = new CliOptions();
        var positionals = new List<string>();
        var endOfOptions = false;
        for (var i = 0; i < args.Count; i++)
        {
            var arg = args[i];
            if (endOfOptions || arg == "-" || !arg.StartsWith('-'))
            {
                positionals.Add(arg);
            }
            else if (arg == "--")
            {
                endOfOptions = true;
            }
            else if (arg.StartsWith("--", StringComparison.Ordinal))
            {
                options = ParseLongOption(options, args, ref i);
            }
            else
            {
                options = ParseShortOptions(options, args, ref i);
            }
        }

        if (options.ShowHelp || options.ShowVersion)
        {
            return options;
        }
        if (positionals.Count == 0)
        {
            throw new UsageException("missing command");
        }
        var spec = FindCommand(positionals[0]) ?? throw new UsageException($"unknown command '{positionals[0]}'");
        var arguments = positionals.GetRange(1, positionals.Count - 1);
        if (arguments.Count < spec.MinArguments)
        {
            throw new UsageException($"missing argument for '{spec.Name}': usage: smb {spec.Synopsis}");
        }
        if (arguments.Count > spec.MaxArguments)
        {
            throw new UsageException($"too many arguments for '{spec.Name}': usage: smb {spec.Synopsis}");
        }
        var defaults = new SmbClientOptions();
        var min = options.MinDialect ?? defaults.MinDialect;
        var max = options.MaxDialect ?? defaults.MaxDialect;
        if (min > max)
        {
            throw new UsageException($"minimum dialect {min.ToDisplay()} is above maximum dialect {max.ToDisplay()}");
        }
        return options with { Command = spec.Name, Arguments = arguments };
    }

    public static CommandSpec? FindCommand(string name) =>
        Array.Find(Commands, c => string.Equals(c.Name, name, StringComparison.Ordinal));

    /// <summary>Parses a dialect option value ("2.0.2", "2.1", "3.0", "3.0.2", "3.1.1").</summary>
    public static SmbDialect ParseDialect(string option, string text)
    {
        if (!SmbDialects.TryParse(text, out var dialect))
        {
            var known = string.Join(", ", SmbDialects.All.Select(d => d.ToDisplay()));
            throw new UsageException($"bad dialect '{text}' for {option} (expected one of {known})");
        }
        return dialect;
    }

    private static CliOptions ParseLongOption(CliOptions options, IReadOnlyList<string> args, ref int index)
    {
        var arg = args[index];
        var equals = arg.IndexOf('=', StringComparison.Ordinal);
        var name = equals < 0 ? arg : arg[..equals];
        var inlineValue = equals < 0 ? null : arg[(equals + 1)..];
        switch (name)
        {
            case "--user":
                return options with { User = TakeValue(name, inlineValue, args, ref index) };
            case "--authentication-file":
                return options with { AuthFile = TakeValue(name, inlineValue, args, ref index) };
            case "--min-dialect":
                return options with { MinDialect = ParseDialect(name, TakeValue(name, inlineValue, args, ref index)) };
            case "--max-dialect":
                return options with { MaxDialect = ParseDialect(name, TakeValue(name, inlineValue, args, ref index)) };
            case "--ip-address":
                return options with { ServerAddress = ParseAddress(name, TakeValue(name, inlineValue, args, ref index)) };
            case "--dc":
                return options with { DomainController = TakeValue(name, inlineValue, args, ref index) };
            case "--use-kerberos":
                return options with { Kerberos = ParseKerberos(TakeValue(name, inlineValue, args, ref index)) };
            case "--soft":
                return options with { FailureMode = SmbFailureMode.Soft, SoftTimeout = ParseSeconds(name, TakeValue(name, inlineValue, args, ref index)) };
        }
        if (inlineValue is not null && IsKnownLongFlag(name))
        {
            throw new UsageException($"option '{name}' takes no value");
        }
        return name switch
        {
            "--sign" => options with { RequireSigning = true },
            "--hard" => options with { FailureMode = SmbFailureMode.Hard, SoftTimeout = null },
            "--encrypt" => options with { RequireEncryption = true },
            "--recursive" => options with { Recursive = true },
            "--json" => options with { Json = true },
            "--read-only" => options with { ReadOnly = true },
            "--background" => options with { Background = true },
            "--no-pass" => options with { NoPassword = true },
            "--verbose" => options with { Verbosity = options.Verbosity + 1 },
            "--help" => options with { ShowHelp = true },
            "--version" => options with { ShowVersion = true },
            _ => throw new UsageException($"unknown option '{name}'"),
        };
    }

    private static System.Net.IPAddress ParseAddress(string option, string text) =>
        System.Net.IPAddress.TryParse(text, out var address) ? address : throw new UsageException($"bad address '{text}' for {option} (expected an IPv4 or IPv6 address)");

    private static KerberosPolicy ParseKerberos(string text) => text switch
    {
        "required" => KerberosPolicy.Required,
        "desired" => KerberosPolicy.Desired,
        "off" or "disabled" => KerberosPolicy.Off,
        _ => throw new UsageException($"bad value '{text}' for --use-kerberos (expected required, desired or off)"),
    };

    private static TimeSpan ParseSeconds(string option, string text)
    {
        if (!double.TryParse(text, System.Globalization.NumberStyles.Float, System.Globalization.CultureInfo.InvariantCulture, out var seconds)
            || seconds <= 0 || seconds > 24 * 3600 || double.IsNaN(seconds))
        {
            throw new UsageException($"bad number of seconds '{text}' for {option} (expected a positive number, e.g. 5 or 0.5)");
        }
        return TimeSpan.FromSeconds(seconds);
    }

    private static bool IsKnownLongFlag(string name) => name is "--sign" or "--recursive" or "--json" or "--read-only" or "--background" or "--hard" or "--encrypt" or "--no-pass" or "--verbose" or "--help" or "--version";

    private static CliOptions ParseShortOptions(CliOptions options, IReadOnlyList<string> args, ref int index)
    {
        var arg = args[index];
        for (var j = 1; j < arg.Length; j++)
        {
            var letter = arg[j];
            switch (letter)
            {
                case 'v':
                    options = options with { Verbosity = options.Verbosity + 1 };
                    break;
                case 'h':
                    options = options with { ShowHelp = true };
                    break;
                case 'N':
                    options = options with { NoPassword = true };
                    break;
                case 'r':
                    options = options with { Recursive = true };
                    break;
                case 'k':
                    options = options with { Kerberos = KerberosPolicy.Required };
                    break;
                case 'U':
                case 'A':
                case 'I':
                    // The rest of the cluster is the value (-Ubob), else the next argument (-U bob).
                    var attached = j + 1 < arg.Length ? arg[(j + 1)..] : null;
                    var value = TakeValue("-" + letter, attached, args, ref index);
                    return letter switch
                    {
                        'U' => options with { User = value },
                        'A' => options with { AuthFile = value },
                        _ => options with { ServerAddress = ParseAddress("-I", value) },
                    };
                default:
                    throw new UsageException($"unknown option '-{letter}'");
            }
        }
        return options;
    }

    private static string TakeValue(string option, string? inlineValue, IReadOnlyList<string> args, ref int index)
    {
        if (inlineValue is not null)
        {
            return inlineValue;
        }
        if (index + 1 >= args.Count)
        {
            throw new UsageException($"option '{option}' needs a value");
        }
        index++;
        return args[index];
    }
}
