namespace SmbLayer.Cli;

/// <summary>
/// Decides the user, password and domain from every source, each field on its own:
/// <list type="bullet">
/// <item>user: URL &gt; <c>-U</c> &gt; <c>-A</c> &gt; <c>$USER</c> (<c>$USERNAME</c> on Windows), like smbclient;</item>
/// <item>password: URL &gt; <c>-U</c> &gt; <c>-A</c> &gt; <c>$SMB_PASSWORD</c> &gt; prompt (only when stdin is a terminal);</item>
/// <item>domain: URL &gt; <c>-U</c> &gt; <c>-A</c> &gt; none.</item>
/// </list>
/// With <c>-N</c> nothing is prompted: a missing password is empty, and without an explicit
/// user (URL, -U or -A) the session is anonymous.
/// </summary>
internal static class CredentialResolver
{
    public const string PasswordVariable = "SMB_PASSWORD";

    public static SmbCredentials Resolve(SmbPath url, UserSpec? option, AuthFile? file, bool noPassword, ICliEnvironment environment,
        CancellationToken cancellationToken, bool kerberos = false)
    {
        var user = url.UserName ?? option?.UserName ?? file?.UserName;
        var password = url.Password ?? option?.Password ?? file?.Password ?? environment.GetEnvironmentVariable(PasswordVariable);
        var domain = url.Domain ?? option?.Domain ?? file?.Domain ?? "";
        if (kerberos && password is null)
        {
            // -k without a password: the ticket cache's (after kinit), never a prompt; a user name given is the cache's to say.
            return SmbCredentials.TicketCache;
        }

        if (noPassword && string.IsNullOrEmpty(user))
        {
            return SmbCredentials.Anonymous;
        }
        if (string.IsNullOrEmpty(user))
        {
            user = environment.GetEnvironmentVariable("USER") ?? environment.GetEnvironmentVariable("USERNAME");
        }
        if (string.IsNullOrEmpty(user))
        {
            throw new UsageException("no user name: give one in the URL, with -U USER or -A FILE");
        }
        if (password is null)
        {
            if (noPassword)
            {
                password = "";
            }
            else if (environment.IsInputRedirected)
            {
                throw new UsageException($"no password for {Describe(domain, user)}: give one with -U USER%PASSWORD, -A FILE or ${PasswordVariable} (stdin is not a terminal, so smb cannot prompt)");
            }
            else
            {
                password = environment.ReadPassword($"Password for {Describe(domain, user)}@{url.Host}: ", cancellationToken)
                    ?? throw new UsageException("no password given");
            }
        }
        return new SmbCredentials(user, password, domain);
    }

    private static string Describe(string domain, string user) => domain.Length > 0 ? $"{domain}\\{user}" : user;
}
