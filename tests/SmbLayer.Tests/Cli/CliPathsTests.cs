using SmbLayer.Cli;

namespace SmbLayer.Tests.Cli;

public class CliPathsTests
{
    [Theory]
    [InlineData("smb://h/s/dir/", "report.txt", "dir/report.txt")]
    [InlineData(@"\\h\s\dir\", "report.txt", "dir/report.txt")]
    [InlineData("smb://h/s", "report.txt", "report.txt")]
    [InlineData("smb://h/s/", "report.txt", "report.txt")]
    [InlineData("smb://h/s/dir/", "/tmp/x/report.txt", "dir/report.txt")]
    [InlineData("smb://h/s/dir/name.txt", "/tmp/x/report.txt", "dir/name.txt")]
    [InlineData("smb://h/s/dir", "report.txt", "dir")]
    public void ResolvePutTarget_DirectoryUrl_AppendsLocalName(string url, string localFile, string expectedPath)
    {
        var target = CliPaths.ResolvePutTarget(url, SmbPath.Parse(url), localFile);

        Assert.Equal(expectedPath, target.Path);
        Assert.Equal("s", target.Share);
    }

    [Fact]
    public void ResolvePutTarget_StdinIntoDirectory_ThrowsUsage()
    {
        Assert.Throws<UsageException>(() => CliPaths.ResolvePutTarget("smb://h/s/dir/", SmbPath.Parse("smb://h/s/dir/"), "-"));
    }

    [Theory]
    [InlineData("smb://h/s/a.txt", "b.txt", "b.txt")]
    [InlineData("smb://h/s/dir/a.txt", "/other/b.txt", "other/b.txt")]
    [InlineData("smb://h/s/dir/a.txt", @"other\b.txt", "other/b.txt")]
    [InlineData("smb://h/s/dir/a.txt", "other/", "other/a.txt")]
    [InlineData("smb://h/s/dir/a.txt", "/", "a.txt")]
    [InlineData("smb://h/s/dir/a.txt", "smb://H/S/new/b.txt", "new/b.txt")]
    [InlineData("smb://h/s/dir/a.txt", "smb://user@h/s/new/", "new/a.txt")]
    [InlineData("smb://h/s/dir/a.txt", @"\\h\s\x.txt", "x.txt")]
    public void ResolveRenameTarget_PathOrSameShareUrl_GivesPathInShare(string source, string target, string expected)
    {
        Assert.Equal(expected, CliPaths.ResolveRenameTarget(SmbPath.Parse(source), target));
    }

    [Theory]
    [InlineData("smb://other/s/b.txt")]
    [InlineData("smb://h/other/b.txt")]
    [InlineData("smb://h:1445/s/b.txt")]
    [InlineData("")]
    public void ResolveRenameTarget_OtherShareOrEmpty_ThrowsUsage(string target)
    {
        Assert.Throws<UsageException>(() => CliPaths.ResolveRenameTarget(SmbPath.Parse("smb://h/s/a.txt"), target));
    }

    [Theory]
    [InlineData("not-a-url")]
    [InlineData("smb://")]
    [InlineData("smb://h:99999/s")]
    [InlineData("smb://h")]
    [InlineData("smb://h/")]
    public void ParseUrl_Bad_ThrowsUsage(string url)
    {
        Assert.Throws<UsageException>(() => CliPaths.ParseUrl(url));
    }

    [Theory]
    [InlineData("smb://h/s/dir/*.txt", "smb://h/s/dir", "*.txt")]
    [InlineData("smb://h/s/a?", "smb://h/s", "a?")]
    [InlineData("smb://h/s/dir", "smb://h/s/dir", "*")]
    [InlineData("smb://h/s", "smb://h/s", "*")]
    public void SplitPattern_WildcardInLastComponent_ListsParent(string url, string directory, string pattern)
    {
        var (dir, pat) = CliPaths.SplitPattern(SmbPath.Parse(url));

        Assert.Equal((directory, pattern), (dir.ToString(), pat));
    }

    [Fact]
    public void ResolveGetTarget_DefaultsToRemoteName()
    {
        Assert.Equal("f.bin", CliPaths.ResolveGetTarget(null, SmbPath.Parse("smb://h/s/d/f.bin")));
    }

    [Fact]
    public void ResolveGetTarget_ExistingDirectory_AppendsRemoteName()
    {
        var directory = Path.GetTempPath();

        Assert.Equal(Path.Combine(directory, "f.bin"), CliPaths.ResolveGetTarget(directory, SmbPath.Parse("smb://h/s/d/f.bin")));
        Assert.Equal("local.bin", CliPaths.ResolveGetTarget("local.bin", SmbPath.Parse("smb://h/s/d/f.bin")));
    }
}
