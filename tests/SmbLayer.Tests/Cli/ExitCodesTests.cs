using System.Net.Sockets;
using SmbLayer.Cli;
using SmbLayer.Protocol;

namespace SmbLayer.Tests.Cli;

public class ExitCodesTests
{
    public static TheoryData<Exception, int> Cases => new()
    {
        { new UsageException("bad"), 2 },
        { new SmbAuthenticationException(NtStatus.LogonFailure, "Session setup"), 3 },
        { new SmbNotFoundException(NtStatus.ObjectNameNotFound, "Open"), 4 },
        { new SmbConnectionException("Connection reset"), 5 },
        { new SmbTimeoutException("No answer"), 5 },
        { new SocketException((int)SocketError.ConnectionRefused), 5 },
        { new IOException("Unable to read", new SocketException((int)SocketError.ConnectionReset)), 5 },
        { new SmbAccessDeniedException(NtStatus.AccessDenied, "Open"), 6 },
        { new SmbProtocolException("Bad frame"), 7 },
        { new SmbSecurityException("Signing unavailable"), 7 },
        { new SmbStatusException(NtStatus.DirectoryNotEmpty, "Delete"), 1 },
        { new SmbHandleLostException("Handle lost"), 1 },
        { new SmbOutcomeUnknownException("Maybe"), 1 },
        { new InvalidOperationException("Other"), 1 },
        { new IOException("Disk full"), 1 },
        { new FileNotFoundException("Local file missing"), 4 },
        { new DirectoryNotFoundException("Local directory missing"), 4 },
        { new UnauthorizedAccessException("Local file denied"), 6 },
        { new AggregateException(new SmbAuthenticationException(NtStatus.WrongPassword, "x")), 3 },
        // The server refuses NTLM (a domain that allows only Kerberos): an authentication failure, not "other".
        { SmbStatusException.Create(NtStatus.NtlmBlocked, "Session setup"), 3 },
        { SmbStatusException.Create(NtStatus.AccountExpired, "Session setup"), 3 },
    };

    [Theory]
    [MemberData(nameof(Cases))]
    public void FromException_EachKind_HasItsCode(Exception exception, int expected)
    {
        Assert.Equal(expected, ExitCodes.FromException(exception));
    }

    [Fact]
    public void FromException_CancellationAfterCtrlC_Is130()
    {
        Assert.Equal(130, ExitCodes.FromException(new OperationCanceledException(), cancellationRequested: true));
        Assert.Equal(130, ExitCodes.FromException(new TaskCanceledException(), cancellationRequested: true));
    }

    [Fact]
    public void FromException_CancellationWithoutCtrlC_IsOtherError()
    {
        Assert.Equal(1, ExitCodes.FromException(new OperationCanceledException(), cancellationRequested: false));
    }

    [Fact]
    public void Describe_StatusOutsideTheEnum_NamesIt()
    {
        var message = ExitCodes.Describe(SmbStatusException.Create((NtStatus)0xC0000257, "Opening 'dfs/link'"));

        Assert.Equal("Opening 'dfs/link': STATUS_PATH_NOT_COVERED (0xC0000257)", message);
    }

    [Fact]
    public void Describe_MultiLineMessage_BecomesOneLine()
    {
        Assert.Equal("first second", ExitCodes.Describe(new InvalidOperationException("first\r\n  second\n")));
    }

    [Fact]
    public void Describe_Usage_PointsToHelp()
    {
        Assert.Equal("bad (see 'smb --help')", ExitCodes.Describe(new UsageException("bad")));
    }

    [Fact]
    public void Describe_Cancelled_SaysCancelled()
    {
        Assert.Equal("cancelled", ExitCodes.Describe(new OperationCanceledException(), cancellationRequested: true));
    }
}
