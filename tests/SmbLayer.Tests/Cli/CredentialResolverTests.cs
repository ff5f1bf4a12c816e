using SmbLayer.Cli;

namespace SmbLayer.Tests.Cli;

public class CredentialResolverTests
{
    private readonly FakeEnvironment _environment = new();

    private SmbCredentials Resolve(string url, string? userOption = null, AuthFile? file = null, bool noPassword = false) =>
        CredentialResolver.Resolve(SmbPath.Parse(url), userOption is null ? null : UserSpec.Parse(userOption), file, noPassword, _environment, CancellationToken.None);

    [Fact]
    public void Resolve_Kerberos_NoPasswordAnywhere_TheTicketCacheWithoutAPrompt()
    {
        _environment.Variables["USER"] = "local";
        var credentials = CredentialResolver.Resolve(SmbPath.Parse("smb://h/s"), UserSpec.Parse("bob"), null, false, _environment, CancellationToken.None, kerberos: true);
        Assert.Same(SmbCredentials.TicketCache, credentials);
        Assert.False(credentials.IsAnonymous);
        Assert.Equal("(Kerberos ticket cache)", credentials.ToString());
    }

    [Fact]
    public void Resolve_Kerberos_WithAPassword_ThatUserAndPassword()
    {
        var credentials = CredentialResolver.Resolve(SmbPath.Parse("smb://h/s"), UserSpec.Parse(@"DOM\bob%pw"), null, false, _environment, CancellationToken.None, kerberos: true);
        Assert.Equal(("bob", "pw", "DOM"), (credentials.UserName, credentials.Password, credentials.Domain));
    }

    [Fact]
    public void Resolve_UrlBeatsOptionFileAndEnvironment()
    {
        _environment.Variables["SMB_PASSWORD"] = "env";
        _environment.Variables["USER"] = "local";

        var credentials = Resolve("smb://URLDOM;urluser:urlpass@h/s", @"OPTDOM\optuser%optpass", new AuthFile("fileuser", "filepass", "FILEDOM"));

        Assert.Equal(("urluser", "urlpass", "URLDOM"), (credentials.UserName, credentials.Password, credentials.Domain));
    }

    [Fact]
    public void Resolve_OptionBeatsFileAndEnvironment()
    {
        _environment.Variables["SMB_PASSWORD"] = "env";

        var credentials = Resolve("smb://h/s", @"OPTDOM\optuser%optpass", new AuthFile("fileuser", "filepass", "FILEDOM"));

        Assert.Equal(("optuser", "optpass", "OPTDOM"), (credentials.UserName, credentials.Password, credentials.Domain));
    }

    [Fact]
    public void Resolve_FileBeatsEnvironment()
    {
        _environment.Variables["SMB_PASSWORD"] = "env";
        _environment.Variables["USER"] = "local";

        var credentials = Resolve("smb://h/s", file: new AuthFile("fileuser", "filepass", "FILEDOM"));

        Assert.Equal(("fileuser", "filepass", "FILEDOM"), (credentials.UserName, credentials.Password, credentials.Domain));
    }

    [Fact]
    public void Resolve_OnlyEnvironment_UsesUserAndSmbPassword()
    {
        _environment.Variables["SMB_PASSWORD"] = "env";
        _environment.Variables["USER"] = "local";

        var credentials = Resolve("smb://h/s");

        Assert.Equal(("local", "env", ""), (credentials.UserName, credentials.Password, credentials.Domain));
    }

    [Fact]
    public void Resolve_UsernameVariable_IsFallbackForUser()
    {
        _environment.Variables["SMB_PASSWORD"] = "env";
        _environment.Variables["USERNAME"] = "winuser";

        Assert.Equal("winuser", Resolve("smb://h/s").UserName);
    }

    [Fact]
    public void Resolve_FieldsComeFromDifferentSources()
    {
        _environment.Variables["SMB_PASSWORD"] = "env";

        // User in the URL, password nowhere but the environment, domain from the file.
        var credentials = Resolve("smb://urluser@h/s", file: new AuthFile(null, null, "FILEDOM"));

        Assert.Equal(("urluser", "env", "FILEDOM"), (credentials.UserName, credentials.Password, credentials.Domain));
    }

    [Fact]
    public void Resolve_EmptyPasswordInOption_IsAPasswordAndDoesNotPrompt()
    {
        _environment.IsInputRedirected = false;

        var credentials = Resolve("smb://h/s", "bob%");

        Assert.Equal("", credentials.Password);
        Assert.Empty(_environment.Prompts);
    }

    [Fact]
    public void Resolve_NoPasswordAndTerminal_Prompts()
    {
        _environment.IsInputRedirected = false;
        _environment.PasswordToType = "typed";

        var credentials = Resolve("smb://h/s", @"CORP\bob");

        Assert.Equal("typed", credentials.Password);
        Assert.Equal([@"Password for CORP\bob@h: "], _environment.Prompts);
    }

    [Fact]
    public void Resolve_NoPasswordAndStdinRedirected_ThrowsUsage()
    {
        _environment.IsInputRedirected = true;

        var ex = Assert.Throws<UsageException>(() => Resolve("smb://h/s", "bob"));
        Assert.Contains("no password", ex.Message);
        Assert.Empty(_environment.Prompts);
    }

    [Fact]
    public void Resolve_PromptEndOfInput_ThrowsUsage()
    {
        _environment.IsInputRedirected = false;
        _environment.PasswordToType = null;

        Assert.Throws<UsageException>(() => Resolve("smb://h/s", "bob"));
    }

    [Fact]
    public void Resolve_NoUserAnywhere_ThrowsUsage()
    {
        _environment.Variables["SMB_PASSWORD"] = "env";

        var ex = Assert.Throws<UsageException>(() => Resolve("smb://h/s"));
        Assert.Contains("no user name", ex.Message);
    }

    [Fact]
    public void Resolve_NoPassFlagWithoutExplicitUser_IsAnonymous()
    {
        _environment.Variables["USER"] = "local";
        _environment.IsInputRedirected = false;

        Assert.Same(SmbCredentials.Anonymous, Resolve("smb://h/s", noPassword: true));
        Assert.Empty(_environment.Prompts);
    }

    [Fact]
    public void Resolve_NoPassFlagWithUser_UsesEmptyPasswordWithoutPrompt()
    {
        _environment.IsInputRedirected = false;

        var credentials = Resolve("smb://h/s", "bob", noPassword: true);

        Assert.Equal(("bob", ""), (credentials.UserName, credentials.Password));
        Assert.Empty(_environment.Prompts);
    }

    [Fact]
    public void Resolve_NoPassFlagWithKnownPassword_KeepsIt()
    {
        _environment.Variables["SMB_PASSWORD"] = "env";

        Assert.Equal("env", Resolve("smb://h/s", "bob", noPassword: true).Password);
    }
}
