using System.Buffers;
using System.Text;

namespace SmbLayer;

/// <summary>
/// A parsed SMB location: <c>smb://[user[:password]@]host[:port]/share[/path]</c> or
/// <c>\\host[@port]\share\path</c> (UNC). Paths use '/' and carry no leading slash.
/// </summary>
public sealed class SmbPath
{
    public const int DefaultPort = 445;

    private SmbPath(string host, int port, string share, string path, string? userName, string? password, string? domain)
    {
        Host = host;
        Port = port;
        Share = share;
        Path = path;
        UserName = userName;
        Password = password;
        Domain = domain;
    }

    public string Host { get; }
    public int Port { get; }
    /// <summary>Share name; empty when the URL names only the server.</summary>
    public string Share { get; }
    /// <summary>Path inside the share ('/' separated, no leading or trailing slash); empty for the share root.</summary>
    public string Path { get; }
    public string? UserName { get; }
    public string? Password { get; }
    public string? Domain { get; }

    /// <summary>The last path component, or empty for the share root.</summary>
    public string Name => Path.Length == 0 ? "" : Path[(Path.LastIndexOf('/') + 1)..];

    /// <summary>The path as the SMB2 CREATE wants it: backslashes, no leading separator.</summary>
    public string WirePath => Path.Replace('/', '\\');

    /// <summary>Same server and share, another path inside the share.</summary>
    public SmbPath WithPath(string path) =>
        new(Host, Port, Share, NormalizePath(path), UserName, Password, Domain);

    /// <summary>Another server, share and path with the same user name, password and domain (a DFS target).</summary>
    internal SmbPath At(string host, int port, string share, string path) =>
        new(host, port, share, NormalizePath(path), UserName, Password, Domain);

    /// <summary>The location in UNC form, <c>\\host\share\path</c> (with <c>@port</c> after the host when not 445).</summary>
    public string ToUnc()
    {
        var port = Port == DefaultPort ? "" : "@" + Port.ToString(System.Globalization.CultureInfo.InvariantCulture);
        var share = Share.Length == 0 ? "" : @"\" + Share;
        var path = Path.Length == 0 ? "" : @"\" + WirePath;
        return $@"\\{Host}{port}{share}{path}";
    }

    /// <summary>The same location without user name, password or domain.</summary>
    public SmbPath WithoutCredentials() =>
        UserName is null && Password is null && Domain is null ? this : new(Host, Port, Share, Path, null, null, null);

    /// <summary>A child of this path.</summary>
    public SmbPath Combine(string name) => WithPath(Path.Length == 0 ? name : Path + "/" + name);

    /// <summary>The parent directory (the share root stays the share root).</summary>
    public SmbPath Parent => WithPath(Path.Contains('/') ? Path[..Path.LastIndexOf('/')] : "");

    public static SmbPath Parse(string location)
    {
        if (!TryParse(location, out var path, out var error))
        {
            throw new ArgumentException(error, nameof(location));
        }
        return path;
    }

    public static bool TryParse(string location, out SmbPath result, out string error)
    {
        result = null!;
        error = "";
        if (string.IsNullOrWhiteSpace(location))
        {
            error = "Empty SMB location.";
            return false;
        }
        string rest;
        string? user = null, password = null, domain = null;
        if (location.StartsWith("smb://", StringComparison.OrdinalIgnoreCase))
        {
            rest = location[6..];
            var slash = rest.IndexOf('/');
            var authority = slash < 0 ? rest : rest[..slash];
            rest = slash < 0 ? "" : rest[(slash + 1)..];
            var at = authority.LastIndexOf('@');
            if (at >= 0)
            {
                var userInfo = authority[..at];
                authority = authority[(at + 1)..];
                var colon = userInfo.IndexOf(':');
                user = PercentDecode(colon < 0 ? userInfo : userInfo[..colon]);
                if (colon >= 0)
                {
                    password = PercentDecode(userInfo[(colon + 1)..]);
                }
                var sep = user.IndexOfAny([';', '\\']);
                if (sep >= 0)
                {
                    domain = user[..sep];
                    user = user[(sep + 1)..];
                }
            }
            if (!SplitHostPort(authority, out var host, out var port, out error))
            {
                return false;
            }
            rest = PercentDecode(rest);
            var parts = rest.Split('/', 2);
            result = new SmbPath(host, port, parts[0], parts.Length > 1 ? NormalizePath(parts[1]) : "", user, password, domain);
            return true;
        }
        if (location.StartsWith(@"\\", StringComparison.Ordinal) || location.StartsWith("//", StringComparison.Ordinal))
        {
            rest = location[2..].Replace('\\', '/');
            var parts = rest.Split('/', 3);
            var authority = parts[0].Replace('@', ':');
            if (!SplitHostPort(authority, out var host, out var port, out error))
            {
                return false;
            }
            result = new SmbPath(host, port, parts.Length > 1 ? parts[1] : "", parts.Length > 2 ? NormalizePath(parts[2]) : "", null, null, null);
            return true;
        }
        error = $"Not an SMB location (expected smb://host/share/path or \\\\host\\share\\path): '{location}'.";
        return false;
    }

    private static bool SplitHostPort(string authority, out string host, out int port, out string error)
    {
        host = authority;
        port = DefaultPort;
        error = "";
        if (authority.StartsWith('['))
        {
            var close = authority.IndexOf(']');
            if (close < 0)
            {
                error = $"Unclosed '[' in host '{authority}'.";
                return false;
            }
            host = authority[1..close];
            var after = authority[(close + 1)..];
            if (after.StartsWith(':') && !TryPort(after[1..], out port, out error))
            {
                return false;
            }
        }
        else
        {
            var colon = authority.LastIndexOf(':');
            if (colon >= 0)
            {
                host = authority[..colon];
                if (!TryPort(authority[(colon + 1)..], out port, out error))
                {
                    return false;
                }
            }
        }
        if (host.Length == 0)
        {
            error = "Missing host name.";
            return false;
        }
        return true;
    }

    private static bool TryPort(string text, out int port, out string error)
    {
        error = "";
        if (!int.TryParse(text, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out port) || port is < 1 or > 65535)
        {
            error = $"Bad port '{text}'.";
            return false;
        }
        return true;
    }

    /// <summary>
    /// Decodes %XX escapes as UTF-8, as <see cref="Uri.UnescapeDataString(string)"/> does: escaped
    /// bytes that form no valid UTF-8 sequence stay as written. Our own so that parsing a location
    /// does not load and initialise System.Private.Uri, a measurable part of a short CLI command.
    /// </summary>
    internal static string PercentDecode(string text)
    {
        var percent = text.IndexOf('%');
        if (percent < 0)
        {
            return text;
        }
        var result = new StringBuilder(text.Length);
        result.Append(text, 0, percent);
        var bytes = new byte[text.Length / 3];
        Span<char> chars = stackalloc char[2];
        var i = percent;
        while (i < text.Length)
        {
            if (!IsEscape(text, i))
            {
                result.Append(text[i++]);
                continue;
            }
            var start = i;
            var count = 0;
            while (IsEscape(text, i))
            {
                bytes[count++] = (byte)((HexValue(text[i + 1]) << 4) | HexValue(text[i + 2]));
                i += 3;
            }
            // Decode sequence by sequence: an escape that starts no valid UTF-8 sequence stays as written.
            var run = bytes.AsSpan(0, count);
            var offset = start;
            while (!run.IsEmpty)
            {
                var status = Rune.DecodeFromUtf8(run, out var rune, out var used);
                if (status == OperationStatus.Done)
                {
                    result.Append(chars[..rune.EncodeToUtf16(chars)]);
                }
                else
                {
                    result.Append(text, offset, used * 3);
                }
                run = run[used..];
                offset += used * 3;
            }
        }
        return result.ToString();
    }

    private static bool IsEscape(string text, int i) =>
        i + 2 < text.Length && text[i] == '%' && char.IsAsciiHexDigit(text[i + 1]) && char.IsAsciiHexDigit(text[i + 2]);

    private static int HexValue(char c) => c <= '9' ? c - '0' : (c | 0x20) - 'a' + 10;

    private static string NormalizePath(string path)
    {
        var sb = new StringBuilder(path.Length);
        foreach (var part in path.Replace('\\', '/').Split('/', StringSplitOptions.RemoveEmptyEntries))
        {
            if (part == ".")
            {
                continue;
            }
            if (sb.Length > 0)
            {
                sb.Append('/');
            }
            sb.Append(part);
        }
        return sb.ToString();
    }

    /// <summary>The location as an smb:// URL without credentials.</summary>
    public override string ToString()
    {
        var host = Host.Contains(':') ? $"[{Host}]" : Host;
        var port = Port == DefaultPort ? "" : $":{Port}";
        var share = Share.Length == 0 ? "" : "/" + Share;
        var path = Path.Length == 0 ? "" : "/" + Path;
        return $"smb://{host}{port}{share}{path}";
    }
}
