using SmbLayer.Cli;

namespace SmbLayer.Tests.Cli;

public class AuthFileTests
{
    [Fact]
    public void Parse_SmbclientFormat_ReadsAllThreeFields()
    {
        var file = AuthFile.Parse("""
            # comment
            ; another comment
            username = bob
            password = s3cret = with equals # not a comment
            domain   = CORP

            """);

        Assert.Equal(new AuthFile("bob", "s3cret = with equals # not a comment", "CORP"), file);
    }

    [Fact]
    public void Parse_KeysCaseInsensitiveAndCrLf_Accepted()
    {
        var file = AuthFile.Parse("\uFEFFUserName=bob\r\nPASSWORD= pw \r\n");

        Assert.Equal("bob", file.UserName);
        Assert.Equal("pw", file.Password);
        Assert.Null(file.Domain);
    }

    [Fact]
    public void Parse_UnknownKeysAndLinesWithoutEquals_AreIgnored()
    {
        var file = AuthFile.Parse("realm = X\nnonsense\nusername = bob\n");

        Assert.Equal(new AuthFile("bob", null, null), file);
    }

    [Fact]
    public void Parse_UsernameWithDomainAndPassword_SplitLikeSmbclient()
    {
        var file = AuthFile.Parse(@"username = CORP\bob%pw");

        Assert.Equal(new AuthFile("bob", "pw", "CORP"), file);
    }

    [Fact]
    public void Parse_ExplicitLines_WinOverUsernameParts()
    {
        var file = AuthFile.Parse("password = explicit\nusername = CORP/bob%embedded\ndomain = OTHER\n");

        Assert.Equal(new AuthFile("bob", "explicit", "OTHER"), file);
    }

    [Fact]
    public void Parse_Empty_HasNoFields()
    {
        Assert.Equal(new AuthFile(null, null, null), AuthFile.Parse(""));
    }

    [Fact]
    public void Load_MissingFile_ThrowsUsage()
    {
        var path = Path.Combine(Path.GetTempPath(), Guid.NewGuid().ToString("N"));

        var ex = Assert.Throws<UsageException>(() => AuthFile.Load(path));
        Assert.Contains(path, ex.Message);
    }

    [Fact]
    public void Load_ExistingFile_Parses()
    {
        var path = Path.GetTempFileName();
        try
        {
            File.WriteAllText(path, "username = alice\npassword = pw\n");
            Assert.Equal(new AuthFile("alice", "pw", null), AuthFile.Load(path));
        }
        finally
        {
            File.Delete(path);
        }
    }

    [Theory]
    [InlineData("bob", null, "bob", null)]
    [InlineData("bob%pw", null, "bob", "pw")]
    [InlineData("bob%", null, "bob", "")]
    [InlineData("bob%p%w", null, "bob", "p%w")]
    [InlineData(@"CORP\bob%pw", "CORP", "bob", "pw")]
    [InlineData("CORP/bob", "CORP", "bob", null)]
    [InlineData("bob@corp.example", null, "bob@corp.example", null)]
    public void UserSpec_Parse_SplitsDomainUserPassword(string text, string? domain, string user, string? password)
    {
        Assert.Equal(new UserSpec(user, password, domain), UserSpec.Parse(text));
    }
}
