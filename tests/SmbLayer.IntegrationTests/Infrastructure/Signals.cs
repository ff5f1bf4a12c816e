namespace SmbLayer.IntegrationTests;

/// <summary>kill(2), for the tests that signal a process (smbd, smb, a reader) by pid.</summary>
internal static class Signals
{
    public const int Interrupt = 2;
    public const int Kill = 9;
    public const int Terminate = 15;

    /// <summary>Sends <paramref name="signal"/> to <paramref name="pid"/> (a negative pid: its process group); 0 on success.</summary>
    [System.Runtime.InteropServices.DllImport("libc", EntryPoint = "kill", SetLastError = true)]
    public static extern int Send(int pid, int signal);
}
