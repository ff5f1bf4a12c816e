namespace SmbLayer;

/// <summary>User name, password and domain for NTLMv2. <see cref="ToString"/> never shows the password.</summary>
public sealed class SmbCredentials
{
    public SmbCredentials(string userName, string password, string domain = "")
    {
        ArgumentNullException.ThrowIfNull(userName);
        ArgumentNullException.ThrowIfNull(password);
        UserName = userName;
        Password = password;
        Domain = domain ?? "";
    }

    public string UserName { get; }
    public string Password { get; }
    public string Domain { get; }

    /// <summary>An anonymous (null) session; used only when asked for explicitly.</summary>
    public static SmbCredentials Anonymous { get; } = new("", "");

    public bool IsAnonymous => UserName.Length == 0 && Password.Length == 0;

    public override string ToString() => Domain.Length > 0 ? $"{Domain}\\{UserName}" : UserName;
}
