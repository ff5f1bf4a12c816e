namespace SmbLayer.Tests.Client;

public class SmbPathTests
{
    // SmbPath decodes escapes itself (so the CLI does not load System.Private.Uri); it must agree
    // with Uri.UnescapeDataString, including on escapes that are not valid UTF-8.
    [Theory]
    [InlineData("")]
    [InlineData("plain")]
    [InlineData("my%20share")]
    [InlineData("a%2520b")]
    [InlineData("%C3%A9t%C3%A9")]
    [InlineData("%e2%82%ac-%F0%9F%98%80")]
    [InlineData("%")]
    [InlineData("%4")]
    [InlineData("100%")]
    [InlineData("%zz%41")]
    [InlineData("%C3")]
    [InlineData("%C3%28")]
    [InlineData("%FF%FE%41")]
    [InlineData("x%ED%A0%80y")]
    [InlineData("%41%C3%A9%")]
    public void PercentDecode_AgreesWithUri(string text)
    {
        Assert.Equal(Uri.UnescapeDataString(text), SmbPath.PercentDecode(text));
    }

    [Fact]
    public void Parse_DecodesUserPasswordAndPath()
    {
        var path = SmbPath.Parse("smb://DOM;b%C3%B6b:p%40ss%3Aw@host/sh%20are/d%C3%AFr/f%2Fx");

        Assert.Equal(("DOM", "böb", "p@ss:w"), (path.Domain, path.UserName, path.Password));
        Assert.Equal(("sh are", "dïr/f/x"), (path.Share, path.Path));
    }

    [Fact]
    public void WithoutCredentials_KeepsTheLocation()
    {
        var path = SmbPath.Parse("smb://DOM;bob:pw@[fe80::1]:1445/my%20share/a%2520b/c");

        var bare = path.WithoutCredentials();

        Assert.Equal(("fe80::1", 1445, "my share", "a%20b/c"), (bare.Host, bare.Port, bare.Share, bare.Path));
        Assert.Equal((null, null, null), (bare.UserName, bare.Password, bare.Domain));
        Assert.Same(bare, bare.WithoutCredentials());
    }
}
