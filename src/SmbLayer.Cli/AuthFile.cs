namespace SmbLayer.Cli;

/// <summary>A user given as <c>[DOMAIN\]USER[%PASSWORD]</c> (the form smbclient's <c>-U</c> takes; '/' works as the domain separator too).</summary>
internal sealed record UserSpec(string UserName, string? Password, string? Domain)
{
    public static UserSpec Parse(string text)
    {
        // The password may itself contain '%', so split at the first one only.
        var percent = text.IndexOf('%', StringComparison.Ordinal);
        var user = percent < 0 ? text : text[..percent];
        var password = percent < 0 ? null : text[(percent + 1)..];
        string? domain = null;
        var separator = user.IndexOfAny(['\\', '/']);
        if (separator >= 0)
        {
            domain = user[..separator];
            user = user[(separator + 1)..];
        }
        return new UserSpec(user, password, domain);
    }
}

/// <summary>
/// smbclient's authentication file (<c>-A</c>): lines <c>username = x</c>, <c>password = y</c>,
/// <c>domain = z</c>; blank lines and lines starting with '#' or ';' are ignored, as are
/// unknown keys and lines without '='. Keys are case-insensitive; values are trimmed. Like smbclient, the username
/// may carry a domain and password (<c>DOMAIN\user%password</c>); explicit lines win over those.
/// </summary>
internal sealed record AuthFile(string? UserName, string? Password, string? Domain)
{
    public static AuthFile Load(string path)
    {
        string text;
        try
        {
            text = File.ReadAllText(path);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            throw new UsageException($"cannot read authentication file '{path}': {ex.Message}");
        }
        return Parse(text);
    }

    public static AuthFile Parse(string text)
    {
        string? user = null, password = null, domain = null;
        foreach (var rawLine in text.Split('\n'))
        {
            var line = rawLine.Trim().TrimStart('\uFEFF');
            if (line.Length == 0 || line[0] is '#' or ';')
            {
                continue;
            }
            var equals = line.IndexOf('=', StringComparison.Ordinal);
            if (equals < 0)
            {
                continue; // smbclient skips such lines too
            }
            var key = line[..equals].Trim();
            var value = line[(equals + 1)..].Trim();
            if (key.Equals("username", StringComparison.OrdinalIgnoreCase))
            {
                user = value;
            }
            else if (key.Equals("password", StringComparison.OrdinalIgnoreCase))
            {
                password = value;
            }
            else if (key.Equals("domain", StringComparison.OrdinalIgnoreCase))
            {
                domain = value;
            }
        }
        if (user is not null)
        {
            var spec = UserSpec.Parse(user);
            user = spec.UserName;
            password ??= spec.Password;
            domain ??= spec.Domain;
        }
        return new AuthFile(user, password, domain);
    }
}
